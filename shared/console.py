"""What a person at a terminal sees: readable log lines and a short banner.

JSON log lines are for machines (log shippers, `kubectl logs | jq`), so they
stay the default whenever stderr is not a terminal and inside containers; an
explicit SIGHTWIRE_LOG_JSON always wins. On a terminal a line reads
`12:00:01 detector INFO model loaded  model=yolox_nano.onnx compile_ms=812`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from shared.logs import _STANDARD

CONTAINER_MARKERS = ("KUBERNETES_SERVICE_HOST", "container")
HIDDEN = {"color_message"}  # uvicorn's ANSI-coloured copy of the message


def in_container() -> bool:
    return any(os.environ.get(k) for k in CONTAINER_MARKERS) or Path("/.dockerenv").exists()


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
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and k not in HIDDEN)
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
