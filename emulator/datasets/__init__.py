"""Small example datasets shipped with the emulator (documented in emulator/README.md).

from emulator import datasets
datasets.path("good_training")        # -> .../emulator/datasets/good_training.jsonl
datasets.names()                       # -> ["dpo_training", "good_training", ...]
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.stem for p in _HERE.glob("*.jsonl"))


def path(name: str) -> Path:
    """The file of a dataset, by name with or without `.jsonl`."""
    stem = name.removesuffix(".jsonl")
    candidate = _HERE / f"{stem}.jsonl"
    if stem not in names():
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(names())}")
    return candidate
