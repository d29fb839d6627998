"""Faults on demand, per surface: throttling, server errors, latency and dropped connections.

Which requests a fault hits is drawn from a seeded random generator, so a test run is reproducible.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Surface = Literal["dataplane", "arm", "metrics"]
SURFACES: tuple[Surface, ...] = ("dataplane", "arm", "metrics")
Outcome = Literal["ok", "throttle", "error", "drop", "drop_after"]


@dataclass(frozen=True)
class FaultSpec:
    """Fractions are of all requests to the surface; their sum must not exceed 1."""

    throttle: float = 0.0  # answered 429 with Retry-After
    error: float = 0.0  # answered `error_status` (5xx)
    drop: float = 0.0  # connection closed before the request is processed
    drop_after: float = 0.0  # request processed, then the connection closed (the reply is lost)
    retry_after: float = 1.0  # seconds, in `Retry-After` (and `retry-after-ms` on the data plane)
    error_status: int = 503
    latency_ms: float = 0.0  # real milliseconds added before answering
    # Real milliseconds added after the request was processed, before the answer goes out: the window in
    # which a client has had its effect but not heard about it (where a test kills the client).
    latency_after_ms: float = 0.0
    # A regular expression searched in "METHOD /path" (e.g. "^POST .*/fine_tuning/jobs$"): the spec then
    # applies to those requests only, and several such specs can be set on one surface side by side.
    only: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}; known: {sorted(known)}")
        spec = cls(**body)
        fractions = (spec.throttle, spec.error, spec.drop, spec.drop_after)
        if any(not 0 <= f <= 1 for f in fractions) or sum(fractions) > 1:
            raise ValueError("fault fractions must each be in [0, 1] and sum to at most 1")
        if not 500 <= spec.error_status <= 599:
            raise ValueError("error_status must be a 5xx status")
        if spec.retry_after < 0 or spec.latency_ms < 0 or spec.latency_after_ms < 0:
            raise ValueError("retry_after, latency_ms and latency_after_ms must be >= 0")
        try:
            re.compile(spec.only)
        except re.error as exc:
            raise ValueError(f"only: not a regular expression ({exc})") from None
        return spec

    def applies_to(self, request_line: str) -> bool:
        return not self.only or re.search(self.only, request_line) is not None


class FaultBoard:
    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self.specs: dict[Surface, FaultSpec] = {}
        # Specs limited by `only`, per surface, tried in order before the surface's catch-all spec.
        self.rules: dict[Surface, list[FaultSpec]] = {}
        self.injected: dict[str, int] = {}

    def set(self, surface: Surface, spec: FaultSpec) -> None:
        if not spec.only:
            self.specs[surface] = spec
            return
        rules = [r for r in self.rules.get(surface, []) if r.only != spec.only]
        self.rules[surface] = [*rules, spec]

    def clear(self, surface: Surface | None = None) -> None:
        if surface is None:
            self.specs.clear()
            self.rules.clear()
            self.injected = {}
            self._rng = random.Random(self._seed)
        else:
            self.specs.pop(surface, None)
            self.rules.pop(surface, None)

    def draw(self, surface: Surface, request_line: str = "") -> tuple[Outcome, FaultSpec | None]:
        """The outcome for one request (`request_line` = "METHOD /path", for specs limited by `only`)."""
        spec = next((r for r in self.rules.get(surface, []) if r.applies_to(request_line)), None)
        spec = spec or self.specs.get(surface)
        if spec is None:
            return "ok", None
        r = self._rng.random()
        outcome: Outcome = "ok"
        choices: tuple[tuple[Outcome, float], ...] = (
            ("throttle", spec.throttle),
            ("error", spec.error),
            ("drop", spec.drop),
            ("drop_after", spec.drop_after),
        )
        for name, fraction in choices:
            if r < fraction:
                outcome = name
                break
            r -= fraction
        if outcome != "ok":
            key = f"{surface}.{outcome}"
            self.injected[key] = self.injected.get(key, 0) + 1
        return outcome, spec

    def as_json(self) -> dict[str, Any]:
        return {
            "specs": {s: asdict(spec) for s, spec in self.specs.items()},
            "rules": {s: [asdict(r) for r in rules] for s, rules in self.rules.items() if rules},
            "injected": dict(self.injected),
        }
