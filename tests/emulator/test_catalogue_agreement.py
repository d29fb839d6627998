"""The emulator's catalogue (`emulator/catalog.py`) and the bot's copy (`bot/dataprep/models.py`) agree.

The emulator imports nothing of the bot, so the two are kept apart on purpose; this test is what keeps them the
same model list, methods, vision support, retirement dates, retired/gated flags, training types and the
deployment types a fine-tuned model may use.
"""

from __future__ import annotations

import pytest

from bot.dataprep.models import all_models, deployable_as, dpo_models, known_models, model_info
from emulator import catalog


@pytest.mark.parametrize("base", list(catalog.BASE_MODELS.values()), ids=list(catalog.BASE_MODELS))
def test_every_emulator_model_is_known_to_the_bot_the_same_way(base: catalog.BaseModel) -> None:
    info = model_info(base.name)
    assert info is not None, f"bot/dataprep/models.py does not know {base.name}"
    assert info.retired == base.retired
    assert info.gated == base.gated
    assert info.retires == base.retires
    assert info.supports_dpo == base.dpo
    assert info.supports_vision == base.vision
    assert info.data_format == ("chat" if base.chat else "completion")
    if not base.retired:
        assert info.methods == base.methods
        words = {"Standard": "standard", "DataZoneStandard": "datazone", "GlobalStandard": "global"}
        assert info.training_types == {words.get(t, t.lower()) for t in base.training_types}
        # The deployment table (`deploy --sku` words against ARM SKUs; the bot has no word for
        # GlobalProvisionedManaged).
        skus = {"standard": "Standard", "globalstandard": "GlobalStandard", "datazone": "DataZoneStandard"}
        skus |= {"provisioned": "ProvisionedManaged", "developer": "DeveloperTier"}
        assert {skus[w] for w in info.deployment_types} == base.deployment_skus - {"GlobalProvisionedManaged"}


@pytest.mark.parametrize(
    "info", [m for m in all_models() if not m.key.startswith("gpt-3.5")], ids=lambda m: m.key
)
def test_every_bot_model_is_in_the_emulator(info: object) -> None:
    key = info.key  # type: ignore[attr-defined]
    matches = [m for m in catalog.BASE_MODELS.values() if m.name == key or m.name.startswith(f"{key}-")]
    assert catalog.lookup(key) is not None or matches, f"the emulator does not know {key}"


def test_offered_models_agree() -> None:
    offered = {m.family for m in catalog.offered()}
    bot_offered = {model_info(name).key for name in known_models()}  # type: ignore[union-attr]
    assert {f if f != "gpt-5" else "gpt-5-2025-08-07" for f in offered} == bot_offered
    assert {m.family for m in catalog.offered() if m.dpo} == set(dpo_models())


def test_developer_deployments_are_the_documented_four() -> None:
    # fine-tuning-deploy.md (2026-02-11), "Developer Tier": o4-mini, GPT-4.1, GPT-4.1-mini, GPT-4.1-nano.
    documented = {"o4-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"}
    assert set(deployable_as("developer")) == documented
    assert {m.family for m in catalog.offered() if catalog.DEVELOPER_TIER in m.deployment_skus} == documented
