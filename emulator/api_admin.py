"""`/_emulator/...`: the test and demo controls (no auth; the emulator is a local tool).

* `GET  /_emulator/state`                 counters, faults, and every account's files/jobs/deployments
* `GET  /_emulator/clock`                 `{"now", "speed"}`
* `POST /_emulator/clock/advance`         `{"seconds"|"minutes"|"hours"|"days": n}` -> `{"now", "speed"}`
* `PUT  /_emulator/clock/speed`           `{"speed": n}`
* `PUT  /_emulator/faults/{surface}`      FaultSpec fields; surface = dataplane | arm | metrics
* `DELETE /_emulator/faults[/{surface}]`  clear faults
* `POST /_emulator/reset`                 forget everything but the clock
"""

from __future__ import annotations

from aiohttp import web

from emulator.errors import invalid
from emulator.faults import SURFACES, FaultSpec, Surface
from emulator.httputil import json_body, state_of

UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}


def _clock(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response({"now": state.now(), "speed": state.clock.speed})


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).summary())


async def get_clock(request: web.Request) -> web.Response:
    return _clock(request)


async def advance_clock(request: web.Request) -> web.Response:
    body = await json_body(request)
    seconds = 0.0
    for unit, factor in UNITS.items():
        value = body.get(unit, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise invalid(f"'{unit}' must be a non-negative number.", param=unit)
        seconds += value * factor
    state_of(request).advance(seconds)
    return _clock(request)


async def set_speed(request: web.Request) -> web.Response:
    speed = (await json_body(request)).get("speed")
    if isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0:
        raise invalid("'speed' must be a non-negative number.", param="speed")
    state_of(request).clock.set_speed(float(speed))
    return _clock(request)


def _surface(request: web.Request) -> Surface:
    surface = request.match_info["surface"]
    if surface not in SURFACES:
        raise invalid(f"Unknown surface '{surface}'; use one of {', '.join(SURFACES)}.", param="surface")
    return surface


async def set_faults(request: web.Request) -> web.Response:
    surface = _surface(request)
    try:
        spec = FaultSpec.from_json(await json_body(request))
    except (TypeError, ValueError) as exc:
        raise invalid(str(exc)) from None
    state = state_of(request)
    state.faults.set(surface, spec)
    return web.json_response(state.faults.as_json())


async def clear_faults(request: web.Request) -> web.Response:
    state = state_of(request)
    state.faults.clear(_surface(request) if "surface" in request.match_info else None)
    return web.json_response(state.faults.as_json())


async def reset(request: web.Request) -> web.Response:
    state = state_of(request)
    state.reset()
    return web.json_response(state.summary())
