"""Neutral cards to plain JSON and back, so a card built now can wait in the outbox and be sent later.

Generic over the card model's frozen dataclasses (read from their type hints), so a field added to the model
(a chart, a table's row actions, a Teams refresh) travels through the outbox without anyone editing this file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import Any, Union

from cards import model
from cards.model import Card


def card_to_json(card: Card) -> dict[str, Any]:
    out = _dump(card)
    assert isinstance(out, dict)
    return out


def card_from_json(data: Mapping[str, Any]) -> Card:
    card = _load(Card, data)
    assert isinstance(card, Card)
    return card


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def _load(hint: Any, data: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if data is None:
            return None
        return _load(options[0], data) if len(options) == 1 else data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: _load(hints[k], v) for k, v in dict(data).items() if k in known})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], v) for v in data)
        return tuple(_load(a, v) for a, v in zip(args, data, strict=False))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return dict(data)
    return data
