"""Endpoints served without authentication (local use) answer only requests made on this machine, for it.

The address the server binds is not enough: a tunnel (ngrok, dev tunnels) forwards the world to a loopback
port, and a web page the developer visits can post to `http://127.0.0.1:3978` from their browser (or reach it
through DNS rebinding under its own name). Both show in the headers: a tunnel or a rebinding page sends its own
`Host`, a browser sends the page's `Origin`. Only loopback names pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from bot.config import is_loopback_host


def not_local(request: web.Request) -> str | None:
    """Why `request` is not one made on this machine for this machine (None: it is)."""
    host = request.headers.get("Host", "")
    if not is_loopback_host(urlsplit(f"//{host}").hostname or ""):
        return f"Host {host[:80]!r} is not a loopback name"
    origin = request.headers.get("Origin")
    if origin is not None and not is_loopback_host(urlsplit(origin).hostname or ""):
        return f"Origin {origin[:80]!r} is not a loopback page"
    return None
