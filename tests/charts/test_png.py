"""The picture: it decodes, has the size made for chat, a white background, and shows what the data says
(the validation line climbs on the right in the overfitting run and falls in the good one)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cards.charts import BEST_COLOUR, COLOURS, minmax_lttb_indices, png_size, render_png
from cards.loss_chart import loss_chart_card
from handlers.chart import build_view
from tests.charts.emulated import EmulatedRun, dpo_run, good_run, overfit_run

JOB = "ftjob-" + "a" * 32


def _png(run: EmulatedRun, metric: str = "loss") -> Image.Image:
    view = build_view(
        JOB,
        "succeeded",
        run.columns,
        run.checkpoints(),
        metric=metric,
        n_epochs=run.run.hyperparameters.n_epochs,  # type: ignore[arg-type]
    )
    data = render_png(loss_chart_card(view).charts)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _pixels(image: Image.Image, colour: str, tolerance: int = 40) -> list[tuple[int, int]]:
    r0, g0, b0 = _rgb(colour)
    width, height = image.size
    data = image.load()
    assert data is not None
    return [
        (x, y)
        for y in range(height)
        for x in range(0, width, 2)
        if abs(data[x, y][0] - r0) + abs(data[x, y][1] - g0) + abs(data[x, y][2] - b0) < tolerance
    ]


def _rise(image: Image.Image) -> float:
    """How much higher (in pixels) the validation line sits on the right third than on the left third."""
    points = _pixels(image, COLOURS["valid"])
    width = image.size[0]
    left = [y for x, y in points if x < width * 0.4]
    right = [y for x, y in points if x > width * 0.7]
    assert left and right
    return sum(left) / len(left) - sum(right) / len(right)  # rows grow downwards


@pytest.mark.parametrize(("metric", "panels"), [("loss", 1), ("accuracy", 1), ("both", 2)])
def test_size_background_and_decoding(metric: str, panels: int) -> None:
    image = _png(good_run(), metric)
    assert image.size == png_size(panels) == ((1200, 675) if panels == 1 else (1200, 1050))
    assert image.getpixel((2, 2)) == (255, 255, 255)  # explicit light background, also in dark mode
    assert image.getpixel((image.size[0] - 3, image.size[1] - 3)) == (255, 255, 255)


def test_good_and_overfitting_runs_differ_where_it_matters() -> None:
    good, overfit = _png(good_run()), _png(overfit_run())
    assert _rise(overfit) > 100  # validation loss climbs far up on the right
    assert _rise(good) < -20  # and falls in the good run
    assert _pixels(overfit, BEST_COLOUR)  # the checkpoint to deploy is ringed
    assert _pixels(good, COLOURS["full_valid"]) and _pixels(good, COLOURS["train"])


def test_a_run_without_validation_draws_training_only() -> None:
    image = _png(dpo_run())
    assert not _pixels(image, COLOURS["valid"], tolerance=30)
    assert len(_pixels(image, COLOURS["train"])) > 200


def test_minmax_lttb_keeps_extremes_and_the_ends() -> None:
    import numpy as np

    x = np.arange(100_000, dtype=np.float64)
    y = np.sin(x / 5000)
    y[51_234] = 9.0  # a spike must survive
    keep = minmax_lttb_indices(x, y, 2000)
    assert len(keep) == 2000 and keep[0] == 0 and keep[-1] == 99_999
    assert 51_234 in set(keep.tolist())
    assert list(keep) == sorted(keep)


def test_a_reused_figure_draws_the_same_picture_as_a_fresh_one() -> None:
    from cards.charts import _Template

    def png(run: EmulatedRun, metric: str = "loss") -> bytes:
        view = build_view(JOB, "succeeded", run.columns, run.checkpoints(), metric=metric, n_epochs=10)  # type: ignore[arg-type]
        return render_png(loss_chart_card(view).charts)

    _Template._idle.clear()
    empty = render_png([])  # on new figures
    first = png(overfit_run())
    png(good_run())
    png(dpo_run(), "both")
    assert png(overfit_run()) == first  # nothing of the pictures in between is left on the reused figure
    assert render_png([]) == empty


def test_text_drawn_from_the_memo_is_the_text_matplotlib_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text is recorded the first time and replayed after: the pictures are the same, byte for byte, as
    matplotlib's own drawing of every string."""
    from cards.charts import _Template, _TextMemo

    def png(run: EmulatedRun, metric: str = "loss") -> bytes:
        view = build_view(JOB, "succeeded", run.columns, run.checkpoints(), metric=metric, n_epochs=10)  # type: ignore[arg-type]
        return render_png(loss_chart_card(view).charts)

    runs = [(overfit_run(), "loss"), (good_run(), "both"), (dpo_run(), "accuracy")]
    _Template._idle.clear()
    with monkeypatch.context() as patch:
        patch.setattr(_TextMemo, "install", classmethod(lambda cls, renderer: None))
        stock = [png(run, metric) for run, metric in runs]
    _Template._idle.clear()
    _TextMemo._records.clear()
    recorded = [png(run, metric) for run, metric in runs]
    assert len(_TextMemo._records) > 20  # titles, labels, the key, tick labels
    replayed = [png(run, metric) for run, metric in runs]
    assert recorded == stock
    assert replayed == stock
