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
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared import console, logs
from shared.settings import CommonSettings, UpSettings
from shared.watchdog import guard_event_loop

log = logging.getLogger("sightwire")

SERVICE_SETTINGS = {
    "ingest": "ingest.settings:IngestSettings",
    "worker": "workers.settings:WorkerSettings",
    "scene": "workers.scene.settings:SceneSettings",
    "gateway": "gateway.settings:GatewaySettings",
    "up": "shared.settings:UpSettings",
    "notifier": "workers.notifier.settings:NotifierSettings",
}


def load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_settings(component: str, **overrides: Any) -> Any:
    cls = load(SERVICE_SETTINGS[component])
    return cls(**{k: v for k, v in overrides.items() if v is not None})


def run_until_signal(
    main: Callable[[asyncio.Event], Awaitable[None]],
    settings: CommonSettings,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so that shutdown is graceful.
    A stuck event loop ends the process (shared/watchdog.py). `loop_factory`: e.g. uvloop's."""

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

    with asyncio.Runner(loop_factory=loop_factory) as loop_runner:
        loop_runner.run(runner())
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
    settings = build_settings(args.kind if args.kind in ("scene", "notifier") else "worker")
    _configure_logs(f"worker-{args.kind}", settings)
    service = importlib.import_module("workers.service")
    run_until_signal(lambda stop: service.run(args.kind, settings, stop), settings)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = build_settings("gateway", host=args.host, port=args.port)
    _configure_logs("gateway", settings)
    service = importlib.import_module("gateway.service")
    run_until_signal(lambda stop: service.run(settings, stop), settings, loop_factory=service.loop_factory())
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    settings: UpSettings = build_settings("up", host=args.host, port=args.port, mqtt_port=args.mqtt_port)
    _configure_logs("up", settings)
    if problems := importlib.import_module("workers.models.check").preflight(build_settings("worker")):
        for problem in problems:  # before any component starts: one line each, no traceback
            print(f"sightwire up: {problem}", file=sys.stderr)
        return 2
    from shared.stack import run_stack
    from shared.supervisor import CrashLoop

    # The children's stderr reaches the terminal through the supervisor's relay (a pipe): they log
    # the way `up` decided to, not the way a pipe would make them.
    os.environ.setdefault("SIGHTWIRE_LOG_JSON", "false" if console.console_logging() else "true")
    try:
        run_until_signal(lambda stop: run_stack(settings, stop), settings)
    except BaseExceptionGroup as group:
        crash, _rest = group.split(CrashLoop)
        if crash is None:
            raise
        print(f"sightwire up: stopped: {_first(crash)}", file=sys.stderr)
        return 1
    return 0


def _first(group: BaseException) -> BaseException:
    """The innermost first exception of (nested) exception groups."""
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


def cmd_models(args: argparse.Namespace) -> int:
    settings = build_settings("worker")
    _configure_logs("models", settings)
    registry = importlib.import_module("workers.models.registry")
    if args.action == "list":
        return int(registry.cli_list(settings))
    if args.action == "add":
        return int(importlib.import_module("workers.models.add").cli_add(settings, args))
    if args.action == "optimize":
        return int(importlib.import_module("workers.optimize").cli_optimize(settings, args))
    return int(registry.cli_pull(settings, args.names))


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check this machine (shared/doctor.py); the model and device checks come from workers."""
    up: UpSettings = build_settings("up", host=args.host, port=args.port)
    worker = build_settings("worker")
    pinned = list(build_settings("ingest").webrtc_host_addresses)
    model_checks = importlib.import_module("workers.models.check").doctor_checks
    from shared import doctor

    return doctor.run(up, pinned, [lambda: model_checks(worker)])


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
    explicit = settings.log_json if "log_json" in settings.model_fields_set else None
    logs.configure(service, settings.log_level, console.wants_json(explicit))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sightwire", description="Real-time vision pipeline on NATS JetStream.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack locally (embedded nats-server unless SIGHTWIRE_NATS_URL)")
    up.add_argument("--host", default=None)
    up.add_argument("--port", type=int, default=None)
    up.add_argument("--mqtt-port", type=int, default=None, help="enable nats-server's MQTT listener (sw/events/#)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("ingest", help="run an ingest instance").set_defaults(func=cmd_ingest)
    worker = sub.add_parser("worker", help="run an inference worker")
    worker.add_argument("kind", choices=["detector", "depth", "scene", "notifier"])
    worker.set_defaults(func=cmd_worker)
    gateway = sub.add_parser("gateway", help="run the API gateway")
    gateway.add_argument("--host", default=None)
    gateway.add_argument("--port", type=int, default=None)
    gateway.set_defaults(func=cmd_gateway)
    models = sub.add_parser("models", help="list, download, add or optimize models")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every known model and where its file is")
    pull = actions.add_parser("pull", help="download pinned models (verified)")
    pull.add_argument("names", nargs="*", help="models to pull (default: the configured ones)")
    add = actions.add_parser("add", help="register a detector file or an Ultralytics export folder")
    add.add_argument("path", help="a .xml/.onnx/.tflite file, or a `yolo export` folder with metadata.yaml")
    add.add_argument("--name", default=None, help="the name to run it by (default: the folder or file name)")
    add.add_argument("--family", choices=["yolox", "yolov8", "yolov5"], default=None, help="default: from the output")
    add.add_argument("--labels", type=Path, default=None, help="class names: one per line, or YAML with `names:`")
    optimize = actions.add_parser("optimize", help="NNCF post-training INT8 quantization, registered as NAME-int8")
    optimize.add_argument("names", nargs="*", help="the model to optimize (exactly one)")
    optimize.add_argument("--int8", action="store_true", help="NNCF post-training INT8 quantization")
    optimize.add_argument("--calibration", type=Path, help="folder of .jpg calibration images")
    optimize.add_argument("--eval", type=Path, help="photos to measure agreement on (default: calibration)")
    optimize.add_argument("--output", type=Path, help="also keep a copy of the IR here (it goes to the model store)")
    optimize.add_argument("--json", type=Path, help="write the speed/agreement report here")
    models.set_defaults(func=cmd_models, names=[])
    doctor = sub.add_parser("doctor", help="check this machine and say how to fix what fails")
    doctor.add_argument("--host", default=None)
    doctor.add_argument("--port", type=int, default=None)
    doctor.set_defaults(func=cmd_doctor)
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
    except ValidationError as exc:  # one line per bad setting, named as the user sets it
        for error in exc.errors():
            name = "SIGHTWIRE_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"invalid configuration: {name}: {error['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
