"""The neutral card model: what handlers return and the renderers turn into Adaptive Cards or Block Kit.

Text fields use a small markup that both platforms can show: `**bold**`, `` `code` `` and `[label](url)`;
renderers translate it. Builders (cards/*.py) make these; they import nothing of ours but this module.
Every text field is markup, table cells included: text from people, Azure or a model goes in through
`cards.markup.literal()` (or `code()` for a code span), so it can never become the bot's own link or
emphasis. tests/cards/test_hostile_text.py calls every builder with hostile text in every such field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# The two ways outside text enters the markup, here so that `bot/` (which may import this model, not the
# renderers' markup machinery by name) writes its messages' ids and typed text the same way.
from cards.markup import code as code
from cards.markup import literal as literal


class Tone(StrEnum):
    """Colour/emphasis of a card or a fact: renderers map it to each platform's styles."""

    NEUTRAL = "neutral"
    INFO = "info"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""
    # Said under the table when rows were left out (e.g. "12 more: `events ftjob-... --after ...`").
    more: str = ""
    # One optional action per row (e.g. open that job): a client that can (Teams) makes the row's first cell
    # clickable and may then shorten long ids in it, since the full id travels in the action's payload.
    row_actions: tuple[Button | None, ...] = ()
    # Use the platform's own table where it has one (Slack `table` block, one per message).
    native: bool = False


@dataclass(frozen=True, slots=True)
class Image:
    url: str  # https URL the client can fetch, or a data: URI
    alt: str


ChartRole = Literal["train", "valid", "full_valid", "other"]


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """One line of a chart: `(x, y)` points in x order. `role` picks its colour and style everywhere."""

    name: str
    points: tuple[tuple[float, float], ...]
    role: ChartRole = "other"


@dataclass(frozen=True, slots=True)
class ChartMark:
    """Something marked on a chart: a vertical line at `x` (`epoch`), a point (`checkpoint`, `best`)."""

    kind: Literal["epoch", "checkpoint", "best"]
    x: float
    y: float | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    """A line chart (one panel). Renderers draw it natively (Slack `data_visualization`, Teams `Chart.Line`,
    both downsampled to what the platform allows) and as a PNG (`cards.charts`); `alt` says its facts in
    words for screen readers and clients that show no chart."""

    title: str
    x_label: str
    y_label: str
    series: tuple[ChartSeries, ...]
    alt: str
    marks: tuple[ChartMark, ...] = ()


@dataclass(frozen=True, slots=True)
class Confirm:
    """A confirmation step before a button's action runs (e.g. Cancel job)."""

    title: str
    text: str
    ok: str = "Yes"
    dismiss: str = "No"


ButtonStyle = Literal["default", "primary", "danger"]


@dataclass(frozen=True, slots=True)
class Button:
    """A button: either an action for the bot (`action` + typed `payload`) or a link (`url`)."""

    label: str
    action: str = ""
    payload: Mapping[str, str] = field(default_factory=dict)
    style: ButtonStyle = "default"
    confirm: Confirm | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """One message. `key` names the domain thing it shows (e.g. `job:ftjob-...`) so it can be updated."""

    title: str
    tone: Tone = Tone.NEUTRAL
    text: str = ""
    facts: tuple[Fact, ...] = ()
    tables: tuple[Table, ...] = ()
    images: tuple[Image, ...] = ()
    # Native charts; adapters also post them as one PNG picture (cards.charts.render_png).
    charts: tuple[Chart, ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str = ""
    # Plain-text summary for notifications and clients that cannot show cards.
    summary: str = ""
    key: str | None = None
    # Short status badge shown next to the title (e.g. "running 40%").
    badge: str = ""
    # Teams Universal Actions: a button the client presses by itself when it shows the card, so each listed
    # user (platform ids) gets a card of their own (e.g. approvers the buttons, others a status line).
    refresh: Button | None = None
    refresh_users: tuple[str, ...] = ()
