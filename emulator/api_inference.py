"""Data plane: a deployment answers chat completions and completions with a canned, OpenAI-shaped reply.

Every call is recorded for Azure Monitor (`AzureOpenAIRequests`, `ModelRequests`) and for the idle rule.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.datacheck import count_tokens
from emulator.errors import ApiError
from emulator.httputil import account_of, json_body, state_of
from emulator.ids import new_hex


def _deployment_model(request: web.Request, body: dict[str, Any]) -> tuple[str, str, float]:
    """-> (deployment name, model name, now) after recording the call. On the v1 API the deployment is
    named by `model` in the body."""
    state = state_of(request)
    account = account_of(request)
    name = request.match_info.get("deployment") or body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "invalidPayload", "'model' (the deployment name) is required.", param="model")
    now = state.now()
    deployment = account.deployments.get(name)
    if deployment is None or deployment.state(now) != "Succeeded":
        raise ApiError(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the "
            "last 5 minutes, please wait a moment and try again.",
        )
    deployment.last_call_at = now
    account.calls.append((now, name))
    state.count("inference.calls")
    return name, str(deployment.model.get("name", name)), now


def _usage(prompt_text: str, reply: str) -> dict[str, int]:
    prompt, completion = count_tokens(prompt_text), count_tokens(reply)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _canned_reply(deployment: str, model: str, last_user: str) -> str:
    heard = f' You said: "{last_user[:200]}"' if last_user else ""
    return f"Emulated reply from deployment '{deployment}' (model {model}).{heard}"


async def chat_completions(request: web.Request) -> web.Response:
    body = await json_body(request)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalidPayload", "'messages' must be a non-empty list.", param="messages")
    name, model, now = _deployment_model(request, body)
    texts = [m.get("content") for m in messages if isinstance(m, dict)]
    prompt_text = " ".join(t for t in texts if isinstance(t, str))
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last_user = users[-1].get("content") if users else ""
    reply = _canned_reply(name, model, last_user if isinstance(last_user, str) else "")
    result: dict[str, Any] = {
        "id": f"chatcmpl-{new_hex()}",
        "object": "chat.completion",
        "created": int(now),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply},
                "logprobs": None,
            }
        ],
        "usage": _usage(prompt_text, reply),
        "system_fingerprint": None,
    }
    return web.json_response(result)


async def completions(request: web.Request) -> web.Response:
    body = await json_body(request)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str):
        raise ApiError(400, "invalidPayload", "'prompt' must be a string.", param="prompt")
    name, model, now = _deployment_model(request, body)
    reply = _canned_reply(name, model, prompt)
    result = {
        "id": f"cmpl-{new_hex()}",
        "object": "text_completion",
        "created": int(now),
        "model": model,
        "choices": [{"index": 0, "text": reply, "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(prompt, reply),
    }
    return web.json_response(result)
