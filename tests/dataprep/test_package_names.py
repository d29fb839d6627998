"""`bot.dataprep` loads its public names on first use (issue 17): each one resolves, from the module named."""

from __future__ import annotations

import importlib

import bot.dataprep as dataprep


def test_every_public_name_resolves_to_the_object_of_its_module() -> None:
    assert sorted(dataprep._HOMES) == sorted(dataprep.__all__)
    for name, home in dataprep._HOMES.items():
        module = importlib.import_module(f"bot.dataprep.{home}")
        assert getattr(dataprep, name) is getattr(module, name), name
    assert set(dataprep.__all__) <= set(dir(dataprep))


def test_submodules_still_import_from_the_package() -> None:
    from bot.dataprep import findings, rules

    assert findings.__name__ == "bot.dataprep.findings"
    assert rules.__name__ == "bot.dataprep.rules"
