"""Training types: every documented spelling read, Azure's spelling sent, the choice of a start (asked,
resource default, bot default, cheapest offered) and the price table's per-type prices."""

from __future__ import annotations

import pytest

from bot import training_types as tt
from bot.azure.models import FineTuningJob
from bot.config import load_settings
from bot.dataprep.prices import PriceTable, shipped_prices
from bot.errors import ConfigError
from handlers.watch import cost_text

MINI = "gpt-4o-mini-2024-07-18"
O4 = "o4-mini-2025-04-16"


@pytest.mark.parametrize(
    ("spelling", "word"),
    [
        ("Standard", "standard"),
        ("standard", "standard"),
        ("GlobalStandard", "global"),
        ("globalstandard", "global"),
        ("global", "global"),
        ("Global_Standard", "global"),
        ("DataZoneStandard", "datazone"),
        ("data-zone", "datazone"),
        ("Developer", "developer"),
        ("developerTier", "developer"),
        ("ProvisionedManaged", None),
        (None, None),
        (3, None),
    ],
)
def test_every_documented_spelling_is_read(spelling: object, word: str | None) -> None:
    assert tt.parse(spelling) == word


def test_the_wire_spelling_is_azures() -> None:
    assert [tt.wire(w) for w in ("standard", "datazone", "global", "developer")] == [
        "Standard",
        "DataZoneStandard",
        "GlobalStandard",
        "Developer",
    ]
    with pytest.raises(ValueError):
        tt.wire("cheap")


def test_the_choice_of_a_start() -> None:
    assert tt.choose(MINI, "developer") == tt.Choice("developer", "asked")
    assert tt.choose(MINI, None) == tt.Choice("global", "cheapest")  # the cheapest without pre-emption
    assert tt.choose(O4, None) == tt.Choice("global", "cheapest")  # o4-mini has no Developer training
    assert tt.choose(MINI, None, resource_default="global", settings_default="standard").origin == "resource"
    assert tt.choose(MINI, None, settings_default="standard") == tt.Choice("standard", "settings")
    # A configured default the model does not offer is passed over, and the card says so.
    passed = tt.choose(O4, None, resource_default="developer", settings_default="standard")
    assert (passed.name, passed.origin) == ("standard", "settings")
    assert passed.note == f"the configured default `developer` is not offered for `{O4}`"
    assert tt.choose(O4, None, settings_default="developer").name == "global"
    # A model the catalogue does not know: a configured default as it is, else Global.
    assert tt.choose("brand-new-model", None, settings_default="standard").name == "standard"
    assert tt.choose("brand-new-model", None).name == "global"
    assert tt.choose("brand-new-model", "developer").name == "developer"  # Azure decides
    # A fine-tuned model trains with its base's types.
    assert tt.offered(f"{O4}.ft-0123456789abcdef") == ("standard", "datazone", "global")
    with pytest.raises(tt.NotOffered) as refused:
        tt.choose(O4, "developer")
    assert refused.value.types == ("standard", "datazone", "global")


def test_settings_take_any_spelling_and_refuse_others() -> None:
    assert load_settings(default_training_type="DeveloperTier").default_training_type == "developer"
    assert load_settings(default_training_type="").default_training_type is None
    with pytest.raises(ConfigError) as bad:
        load_settings(default_training_type="cheap")
    assert bad.value.problems == [
        "FTBOT_DEFAULT_TRAINING_TYPE: must be one of standard|global|datazone|developer (got 'cheap')"
    ]


def test_per_type_prices_are_dated_with_their_source_and_fall_back_to_standard() -> None:
    table = shipped_prices()
    assert table.types_as_of == "2026-02-11" and "reference" in table.types_source
    for model in ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini"):
        standard = table.per_million[model]
        assert table.by_type["developer"][model] < table.by_type["global"][model] < standard
    dev = table.estimate(MINI, 2_000_000, training_type="developer")
    assert dev is not None and (dev.training_type, dev.per_million, dev.as_of) == (
        "developer",
        1.2,
        "2026-02-11",
    )
    assert dev.amount == pytest.approx(2.4)
    standard = table.estimate(MINI, 2_000_000, training_type="standard")
    assert standard is not None and standard.training_type == "standard" and standard.amount == 6.0
    untyped = table.estimate(MINI, 2_000_000)
    assert untyped is not None and untyped.training_type is None and untyped.amount == 6.0
    # A table without a price for the type: Standard's, and the estimate says no type was priced.
    plain = PriceTable.from_dict({"per_million_trained_tokens": {"gpt-4o-mini": 3.0}})
    fallback = plain.estimate(MINI, 1_000_000, training_type="developer")
    assert fallback is not None and fallback.training_type is None and fallback.amount == 3.0


def test_the_success_alert_costs_a_developer_job_at_developers_price() -> None:
    job = FineTuningJob.model_validate(
        {
            "id": "ftjob-1",
            "model": MINI,
            "status": "succeeded",
            "trained_tokens": 1_000_000,
            "trainingType": "Developer",
        }
    )
    assert job.training_type == "Developer"
    assert cost_text(job) == (
        "about $1.20 (gpt-4o-mini Developer training at $1.20 per 1M trained tokens; illustrative price table)"
    )
    plain = job.model_copy(update={"training_type": None})
    assert cost_text(plain) == (
        "about $3.00 (gpt-4o-mini at $3.00 per 1M trained tokens; illustrative price table)"
    )
