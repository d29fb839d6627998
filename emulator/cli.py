"""`python -m emulator` / `ftbot emulator`: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from emulator.config import DEFAULT_SPEED, AccountConfig, EmulatorConfig
from emulator.server import start

DEFAULT_PORT = 8780


def _extra_account(text: str) -> AccountConfig:
    """`name[:tenant[:subscription[:resource_group]]]`."""
    parts = text.split(":")
    if not parts[0]:
        raise argparse.ArgumentTypeError("an extra account needs a name")
    base = AccountConfig()
    return AccountConfig(
        name=parts[0],
        tenant_id=parts[1] if len(parts) > 1 and parts[1] else base.tenant_id,
        subscription_id=parts[2] if len(parts) > 2 and parts[2] else base.subscription_id,
        resource_group=parts[3] if len(parts) > 3 and parts[3] else base.resource_group,
    )


def build_parser() -> argparse.ArgumentParser:
    defaults = AccountConfig()
    p = argparse.ArgumentParser(prog="ftbot emulator", description="Local Azure OpenAI fine-tuning emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="simulated seconds per real second")
    p.add_argument("--subscription", default=defaults.subscription_id)
    p.add_argument("--resource-group", default=defaults.resource_group)
    p.add_argument("--account", default=defaults.name)
    p.add_argument("--tenant", default=defaults.tenant_id)
    p.add_argument("--location", default=defaults.location)
    p.add_argument(
        "--extra-account",
        type=_extra_account,
        action="append",
        default=[],
        metavar="NAME[:TENANT[:SUB[:RG]]]",
        help="another account, data plane at /accounts/NAME/openai (repeatable)",
    )
    p.add_argument("--api-key", default=None, help="require this data-plane api-key (default: any)")
    p.add_argument("--deployment-quota", type=int, default=10, help="fine-tuned deployments per account")
    p.add_argument("--running-jobs", type=int, default=3, help="training jobs running at once per account")
    p.add_argument(
        "--gated-models",
        action="store_true",
        help="allow invitation-only fine-tuning (gpt-5 RFT); refused by default, as for most resources",
    )
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    account = AccountConfig(
        name=args.account,
        subscription_id=args.subscription,
        resource_group=args.resource_group,
        tenant_id=args.tenant,
        location=args.location,
    )
    return EmulatorConfig(
        default_account=account,
        extra_accounts=list(args.extra_account),
        speed=args.speed,
        api_key=args.api_key,
        fine_tuned_deployment_quota=args.deployment_quota,
        max_running_jobs=args.running_jobs,
        gated_models=args.gated_models,
    )


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    emulator = await start(host, port, config=config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    print(
        f"Azure OpenAI emulator on {emulator.url} (speed x{config.speed:g})\n"
        f"  data plane: {emulator.url}/openai/...   ARM + metrics: {emulator.arm_url}{emulator.account_id}\n"
        f"  subscription {emulator.subscription_id}, resource group {emulator.resource_group}, "
        f"account {emulator.account_name}, tenant {emulator.tenant_id}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await emulator.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(config_from_args(args), args.host, args.port))
    except OSError as exc:  # e.g. the port is taken: one line, no traceback
        print(f"emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
