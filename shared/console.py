"""What a person at a terminal sees: readable log lines and a short banner.

JSON log lines are for machines (log shippers, `kubectl logs | jq`), so they
stay the default whenever stderr is not a terminal and in Kubernetes; our
deployments (compose, k8s) also set SIGHTWIRE_LOG_JSON=true explicitly, and an
explicit setting always wins. (A `/.dockerenv` test would be wrong: a developer
inside a dev container at a terminal is a person watching.) On a terminal a line reads
`12:00:01 detector INFO model loaded  model=yolox_nano.onnx compile_ms=812`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

# a LogRecord's own attributes: anything else on a record is an `extra=` field
STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


CONTAINER_MARKERS = ("KUBERNETES_SERVICE_HOST",)
HIDDEN = {"color_message"}  # uvicorn's ANSI-coloured copy of the message


def in_container() -> bool:
    return any(os.environ.get(k) for k in CONTAINER_MARKERS)


def wants_json(explicit: bool | None, stream: TextIO | None = None) -> bool:
    """`explicit` (SIGHTWIRE_LOG_JSON when set) wins; else JSON unless a person is watching."""
    if explicit is not None:
        return explicit
    stream = stream or sys.stderr
    return in_container() or not stream.isatty()


class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS service LEVEL message  key=value ...` with the record's extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in STANDARD_ATTRS and k not in HIDDEN)
        line = f"{stamp} {self.service} {record.levelname} {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def banner(ui: str, nats: str, embedded: bool, stream: TextIO | None = None) -> None:
    """The three lines a new user needs: where to look, where the broker is, how to stop."""
    out = stream or sys.stderr
    broker = "embedded nats-server" if embedded else "external cluster"
    out.write(f"\n  Sightwire is up: open {ui}\n  NATS: {nats} ({broker})\n  Stop: press Ctrl+C\n\n")
    out.flush()


def console_logging() -> bool:
    """True when the root logger writes readable lines (shared.logs.configure chose the console)."""
    return any(isinstance(h.formatter, ConsoleFormatter) for h in logging.getLogger().handlers)


def banner_if_console(ui: str, nats: str, embedded: bool) -> None:
    if console_logging():
        banner(ui, nats, embedded)


def error_of(line: str) -> str | None:
    """The error a child's log line reports, if it reports one: a JSON or console ERROR/CRITICAL
    record (its message and `error`), or the last line of a Python traceback (`SomeError: ...`)."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
            detail = record.get("error")
            return f"{record.get('msg')}: {detail}" if detail else str(record.get("msg"))
        return None
    if text.startswith("invalid configuration:"):
        return text
    if " ERROR " in text or " CRITICAL " in text:
        return text.split(" ", 2)[-1]
    head = text.split(":", 1)[0]
    if head.endswith(("Error", "Exception", "Exit", "Group")) and " " not in head:
        return text
    return None


async def relay(stream: asyncio.StreamReader, remember: Callable[[str], None], limit: int = 300) -> None:
    """Copy a child's stderr to ours line by line, handing each reported error to `remember`."""
    out = sys.stderr.buffer
    while line := await stream.readline():
        out.write(line)
        out.flush()
        if error := error_of(line.decode(errors="replace")):
            remember(error[:limit])
