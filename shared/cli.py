"""The `sightwire` command: one entry point for every component.

Service packages are imported lazily inside the subcommand that runs them, so
`ingest`, `workers` and `gateway` never import each other through this module.
Each service exposes the same shape: a settings class, built here once, and an
`async run(settings, stop)` that returns after `stop` is set and its ordered
shutdown is done.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared import logs
from shared.settings import CommonSettings, UpSettings
from shared.watchdog import guard_event_loop

log = logging.getLogger("sightwire")

SERVICE_SETTINGS = {
    "ingest": "ingest.settings:IngestSettings",
    "worker": "workers.settings:WorkerSettings",
    "gateway": "gateway.settings:GatewaySettings",
    "up": "shared.settings:UpSettings",
}


def load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_settings(component: str, **overrides: Any) -> Any:
    cls = load(SERVICE_SETTINGS[component])
    return cls(**{k: v for k, v in overrides.items() if v is not None})


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]], settings: CommonSettings) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so that shutdown is graceful.
    A stuck event loop ends the process (shared/watchdog.py)."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watchdog = asyncio.create_task(guard_event_loop(settings.loop_watchdog_s), name="loop-watchdog")
        try:
            await main(stop)
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    asyncio.run(runner())
    # Shutdown is done; a late SIGTERM/SIGINT (an orchestrator repeating itself) must not turn a
    # clean exit into "killed by signal" while the interpreter finishes.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = build_settings("ingest")
    _configure_logs("ingest", settings)
    service = importlib.import_module("ingest.service")
    run_until_signal(lambda stop: service.run(settings, stop), settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = build_settings("worker")
    _configure_logs(f"worker-{args.kind}", settings)
    service = importlib.import_module("workers.service")
    run_until_signal(lambda stop: service.run(args.kind, settings, stop), settings)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = build_settings("gateway", host=args.host, port=args.port)
    _configure_logs("gateway", settings)
    service = importlib.import_module("gateway.service")
    run_until_signal(lambda stop: service.run(settings, stop), settings)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    settings: UpSettings = build_settings("up", host=args.host, port=args.port)
    _configure_logs("up", settings)
    from shared.stack import run_stack

    run_until_signal(lambda stop: run_stack(settings, stop), settings)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    settings = build_settings("worker")
    _configure_logs("models", settings)
    registry = importlib.import_module("workers.models.registry")
    if args.action == "list":
        return int(registry.cli_list(settings))
    if args.action == "optimize":
        return int(importlib.import_module("workers.optimize").cli_optimize(settings, args))
    return int(registry.cli_pull(settings, args.names))


def cmd_bench(args: argparse.Namespace) -> int:
    return int(importlib.import_module("shared.bench.cli").run(args))


def cmd_check_config(args: argparse.Namespace) -> int:
    """Build every settings class from the environment and print it (secrets masked)."""
    failed = False
    for component, path in SERVICE_SETTINGS.items():
        try:
            settings = load(path)()
        except ValidationError as exc:
            failed = True
            print(f"[{component}] INVALID\n{exc}", file=sys.stderr)
            continue
        print(f"[{component}]")
        for key, value in settings.model_dump().items():
            print(f"  {key} = {value}")
    return 1 if failed else 0


def _configure_logs(service: str, settings: CommonSettings) -> None:
    logs.configure(service, settings.log_level, settings.log_json)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sightwire", description="Real-time vision pipeline on NATS JetStream.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack locally (embedded nats-server unless SIGHTWIRE_NATS_URL)")
    up.add_argument("--host", default=None)
    up.add_argument("--port", type=int, default=None)
    up.set_defaults(func=cmd_up)
    sub.add_parser("ingest", help="run an ingest instance").set_defaults(func=cmd_ingest)
    worker = sub.add_parser("worker", help="run an inference worker")
    worker.add_argument("kind", choices=["detector", "depth"])
    worker.set_defaults(func=cmd_worker)
    gateway = sub.add_parser("gateway", help="run the API gateway")
    gateway.add_argument("--host", default=None)
    gateway.add_argument("--port", type=int, default=None)
    gateway.set_defaults(func=cmd_gateway)
    models = sub.add_parser("models", help="list or download models")
    models.add_argument("action", choices=["list", "pull", "optimize"])
    models.add_argument("names", nargs="*", help="models to pull (default: the configured ones)")
    models.add_argument("--int8", action="store_true", help="optimize: NNCF post-training INT8 quantization")
    models.add_argument("--calibration", type=Path, help="optimize: folder of .jpg calibration images")
    models.add_argument("--eval", type=Path, help="optimize: photos to measure agreement on (default: calibration)")
    models.add_argument("--output", type=Path, help="optimize: folder for the IR (default: beside the model)")
    models.add_argument("--json", type=Path, help="optimize: write the speed/agreement report here")
    models.set_defaults(func=cmd_models)
    sub.add_parser("check-config", help="validate and print the configuration").set_defaults(func=cmd_check_config)
    bench = sub.add_parser("bench", help="measure latency, throughput, CPU and memory of a workload (DESIGN §10)")
    importlib.import_module("shared.bench.cli").add_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    # SIGUSR1 writes every thread's Python stack to stderr (faulthandler needs no GIL), so a
    # stuck component can be diagnosed in place: `kill -USR1 <pid>`.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
