"""A stand-in Slack Web API on 127.0.0.1:0 that records every call and answers like Slack.

Methods: `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `files.info`,
`usergroups.users.list` (groups set in `usergroups`), `conversations.history` and `conversations.replies`
(over the messages posted here, newest first / oldest first, with `oldest`, `limit` and cursor paging, and
each message's `metadata` only with `include_all_metadata`, as Slack does); file downloads of `url_private`
(bot token checked: without it, Slack's HTML sign-in page, as the real service does); `response_url` posts;
and the external upload flow: `files.getUploadURLExternal` hands out an upload URL, a POST of the bytes there
is recorded as `upload` (kept in `uploads`), `files.completeUploadExternal` shares the uploaded files into
`channel_id` / `thread_ts` (refused for an id nothing was uploaded to). Every Web API call must carry
`Authorization: Bearer <token>` or gets `not_authed`.
Faults: `fail_next(method, error)` answers `{"ok": false, "error": ...}` once (`fail_next("response_url",
error)`: HTTP 400 with the code as the body, as Slack answers a refused response_url post); `rate_limit_next(method,
retry_after)` answers HTTP 429 with `Retry-After` once; `rate_limit_share(fraction, retry_after)` answers 429 to
that share of posts and updates (seeded draws, reproducible); `lose_answer_next(method)` does the call
and then drops the connection without answering (a post that went out but whose answer was lost; with
`tagged=True` only a call carrying message metadata).

    async with FakeSlackApi(token="xoxb-test") as slack:
        settings = load_settings(slack_api_url=slack.api_url, ...)
        ...
        await slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER_ID = "UBOT00001"
UPLOADER = "U0USER0001"  # the test user (payloads.USER)
SHARED_IN = "C0CHAN0001"  # the test channel (payloads.CHANNEL)
BOT_ID = "BBOT00001"
TEAM_ID = "T0TEAM001"
WAIT_LIMIT = 10.0


@dataclass
class Call:
    """One recorded request: the Web API method (or `response_url` / `download`) and its arguments."""

    method: str
    args: dict[str, Any]
    authorization: str = ""
    refused: bool = False  # answered with a fault (429 or an error), so nothing was posted
    result: dict[str, Any] = field(default_factory=dict)  # what the stand-in answered (e.g. the new `ts`)
    response: dict[str, Any] = field(default_factory=dict)  # what the stand-in answered (Web API calls)
    answer_lost: bool = False  # done, but the connection was dropped before the answer (`lose_answer_next`)


@dataclass
class SharedFile:
    id: str
    name: str
    content: bytes
    mimetype: str = "application/octet-stream"
    url_override: str | None = None
    # Serves the download itself (a slow or stuck file), on the stand-in's own origin, after the token check.
    serve: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    user: str = UPLOADER  # who uploaded it
    channels: tuple[str, ...] = (SHARED_IN,)  # public channels it is shared in
    groups: tuple[str, ...] = ()  # private channels
    ims: tuple[str, ...] = ()  # direct messages


@dataclass
class FakeSlackApi:
    token: str = "xoxb-test-token"
    calls: list[Call] = field(default_factory=list)
    files: dict[str, SharedFile] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)  # S... -> member user ids
    # Bytes posted to upload URLs, by file id (the external upload flow).
    uploads: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._faults: dict[str, list[tuple[str, Any]]] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._throttle_share = 0.0
        self._throttle_after = 1
        self._draws = random.Random(7)
        self.throttled = 0  # 429s answered by `rate_limit_share`
        self._lose_answers: list[tuple[str, bool]] = []
        # channel -> every message posted there (thread replies included), in posting order.
        self.channels: dict[str, list[dict[str, Any]]] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlackApi:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """The Web API base URL for `AsyncWebClient(base_url=...)` / `FTBOT_SLACK_API_URL`."""
        return f"{self.url}/api/"

    def response_url(self, name: str = "1") -> str:
        return f"{self.url}/response/{name}"

    # -- test controls ------------------------------------------------------------------------------------------

    def share_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        mimetype: str = "application/jsonl",
        *,
        user: str = UPLOADER,
        channels: tuple[str, ...] = (SHARED_IN,),
        groups: tuple[str, ...] = (),
        ims: tuple[str, ...] = (),
    ) -> SharedFile:
        """A file as `files.info` describes it: by default uploaded by the test user in the test channel."""
        shared = SharedFile(
            file_id, name, content, mimetype, user=user, channels=channels, groups=groups, ims=ims
        )
        self.files[file_id] = shared
        return shared

    def fail_next(self, method: str, error: str) -> None:
        self._faults.setdefault(method, []).append(("error", error))

    def rate_limit_next(self, method: str, retry_after: int = 0) -> None:
        self._faults.setdefault(method, []).append(("429", retry_after))

    def lose_answer_next(self, method: str, *, tagged: bool = False) -> None:
        self._lose_answers.append((method, tagged))

    def rate_limit_share(self, fraction: float, retry_after: int = 1) -> None:
        """Answer HTTP 429 with `Retry-After` to `fraction` of `chat.postMessage` / `chat.update` calls."""
        self._throttle_share = fraction
        self._throttle_after = retry_after

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posted(self) -> list[Call]:
        """`chat.postMessage` calls that Slack took (not refused by a fault)."""
        return [c for c in self.calls if c.method == "chat.postMessage" and not c.refused]

    def messages(self) -> list[dict[str, Any]]:
        """Every message body the bot sent (posts, ephemerals, updates, response_url posts; a response_url
        post that deletes the original carries no message)."""
        kinds = ("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url")
        return [c.args for c in self.calls if c.method in kinds and not c.args.get("delete_original")]

    async def wait_for(self, method: str, count: int = 1) -> list[Call]:
        """Wait until `method` was called `count` times (the timeout is a safety net against a hang only)."""
        async with asyncio.timeout(WAIT_LIMIT), self._changed:
            await self._changed.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)

    # -- Web API ------------------------------------------------------------------------------------------------

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        authorization = request.headers.get("Authorization", "")
        call = Call(method, args, authorization)
        await self._record(call)
        faults = self._faults.get(method)
        if faults:
            call.refused = True
            kind, value = faults.pop(0)
            if kind == "429":
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(value)}
                )
            return web.json_response({"ok": False, "error": value})
        if (
            method in ("chat.postMessage", "chat.update")
            and self._throttle_share
            and self._draws.random() < self._throttle_share
        ):
            self.throttled += 1
            call.refused = True
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self._throttle_after)},
            )
        if authorization != f"Bearer {self.token}":
            return web.json_response(
                {"ok": False, "error": "not_authed" if not authorization else "invalid_auth"}
            )
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._ephemeral,
            "files.info": self._files_info,
            "usergroups.users.list": self._usergroup_users,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
        }.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        call.result = call.response = handler(args)
        lose = next(
            (
                n
                for n, (m, tagged) in enumerate(self._lose_answers)
                if m == method and (args.get("metadata") or not tagged)
            ),
            None,
        )
        if lose is not None and request.transport is not None:
            del self._lose_answers[lose]
            call.answer_lost = True
            request.transport.close()  # done, but the caller never hears so
        return web.json_response(call.result)

    def _auth_test(self, _: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "ftbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        # Wall-clock seconds (as Slack's are, so `oldest` windows work) and a counter: unique, increasing.
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _post_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "bot_id": BOT_ID,
            "text": args.get("text", ""),
            "ts": ts,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        stored = dict(message, blocks=args.get("blocks") or [])
        if isinstance(args.get("metadata"), dict):
            stored["metadata"] = args["metadata"]
        self.channels.setdefault(str(args["channel"]), []).append(stored)
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}

    def _update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        for stored in self.channels.get(str(args["channel"]), []):
            if stored["ts"] == args["ts"]:
                stored.update(text=args.get("text", ""), blocks=args.get("blocks") or [])
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}

    @staticmethod
    def _shown(stored: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
        message = dict(stored)
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            message.pop("metadata", None)
        return message

    @staticmethod
    def _page(messages: list[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
        """One page of `messages` (already in answer order) after `oldest`, `limit` at a time."""
        oldest = float(args.get("oldest") or 0)
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        kept = [m for m in messages if float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest)]
        start = int(str(args.get("cursor") or "0"))
        limit = max(1, min(int(args.get("limit") or 100), 999))
        page = kept[start : start + limit]
        more = start + limit < len(kept)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first."""
        posted = self.channels.get(str(args.get("channel") or ""))
        if posted is None:
            return {"ok": False, "error": "channel_not_found"}
        top = [self._shown(m, args) for m in reversed(posted) if not m.get("thread_ts")]
        return self._page(top, args)

    def _replies(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A thread's parent and replies, oldest first."""
        posted = self.channels.get(str(args.get("channel") or ""))
        if posted is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(args.get("ts") or "")
        thread = [m for m in posted if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page([self._shown(m, args) for m in thread], args)

    def _ephemeral(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _files_info(self, args: Mapping[str, Any]) -> dict[str, Any]:
        shared = self.files.get(str(args.get("file", "")))
        if shared is None:
            return {"ok": False, "error": "file_not_found"}
        url = shared.url_override or f"{self.url}/files-pri/{TEAM_ID}-{shared.id}/{shared.name}"
        return {
            "ok": True,
            "file": {
                "id": shared.id,
                "name": shared.name,
                "title": shared.name,
                "mimetype": shared.mimetype,
                "size": len(shared.content),
                "url_private": url,
                "url_private_download": url,
                "permalink": f"https://acme.slack.com/files/U0USER001/{shared.id}/{shared.name}",
                "user": shared.user,
                "channels": list(shared.channels),
                "groups": list(shared.groups),
                "ims": list(shared.ims),
                "shares": {
                    **(
                        {"public": {c: [{"ts": "1700000000.000100"}] for c in shared.channels}}
                        if shared.channels
                        else {}
                    ),
                    **(
                        {"private": {g: [{"ts": "1700000000.000100"}] for g in shared.groups}}
                        if shared.groups
                        else {}
                    ),
                },
            },
        }

    def _usergroup_users(self, args: Mapping[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(str(args.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _get_upload_url(self, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            length = int(args.get("length", ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not args.get("filename") or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):09d}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            files = json.loads(args.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        shared = [
            {"id": f["id"], "title": f.get("title", ""), "size": len(self.uploads[f["id"]])} for f in files
        ]
        return {"ok": True, "files": shared}

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        file_id = request.match_info["file_id"]
        await self._record(
            Call("upload", {"file_id": file_id, "bytes": len(body), "content_type": request.content_type})
        )
        self.uploads[file_id] = body
        return web.Response(text=f"OK - {len(body)}")

    async def _download(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        await self._record(Call("download", {"path": request.path}, authorization))
        _, _, file_id = request.match_info["team_file"].partition("-")
        shared = self.files.get(file_id)
        if shared is None:
            return web.Response(status=404, text="not found")
        if authorization != f"Bearer {self.token}":
            # What Slack really does: a 200 with its sign-in page.
            return web.Response(
                status=200, text="<html><body>Sign in to Slack</body></html>", content_type="text/html"
            )
        if shared.serve is not None:
            return await shared.serve(request)  # type: ignore[return-value]
        return web.Response(body=shared.content, content_type=shared.mimetype)

    async def _response_url(self, request: web.Request) -> web.Response:
        call = Call("response_url", await request.json(), request.headers.get("Authorization", ""))
        await self._record(call)
        faults = self._faults.get("response_url")
        if faults:
            # Slack answers a refused response_url post with an HTTP error and the code as the body.
            call.refused = True
            _, error = faults.pop(0)
            return web.Response(status=400, text=str(error))
        return web.Response(text="ok")


async def _arguments(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends JSON for chat.* methods, a form for others and a query string for GET methods."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            args.update(body)
    elif request.can_read_body:
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in ("blocks", "attachments", "metadata"):  # a form sends these as JSON strings
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args
