"""A 3-node nats-server cluster with JetStream on loopback, whose nodes a test can kill -9.

Minimal configs (no auth: the deployment's own cluster config is exercised by
tests/deploy); every listener on 127.0.0.1, client ports picked by the server,
cluster ports picked free beforehand because the routes must name them.
Nodes are stopped by process id.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.natsserver import find_binary
from tests.support.net import free_port

_CLIENT = re.compile(r"Listening for client connections on \S+:(\d+)")
_READY = "Server is ready"


@dataclass
class Node:
    name: str
    conf: Path
    proc: asyncio.subprocess.Process | None = None
    port: int = 0
    pump: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(find_binary()), "-c", str(self.conf),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = (await self.proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError(f"{self.name} exited before it was ready")
                if m := _CLIENT.search(line):
                    self.port = int(m.group(1))
                if _READY in line:
                    break
        self.pump = asyncio.create_task(_drain(self.proc.stderr))

    async def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump


async def _drain(stderr: asyncio.StreamReader) -> None:
    while await stderr.readline():
        pass


def node_conf(name: str, store: Path, cluster_port: int, routes: list[int]) -> str:
    route_urls = ", ".join(f'"nats://127.0.0.1:{p}"' for p in routes)
    return (
        f'server_name: "{name}"\nlisten: "127.0.0.1:-1"\nmax_payload: 8MB\n'
        f'jetstream {{ store_dir: "{store}" }}\n'
        f'cluster {{ name: "sw"\n  listen: "127.0.0.1:{cluster_port}"\n  routes: [{route_urls}] }}\n'
    )


@contextlib.asynccontextmanager
async def cluster(tmp: Path, size: int = 3) -> AsyncIterator[list[Node]]:
    ports = [free_port() for _ in range(size)]
    nodes = []
    for i in range(size):
        name = f"n{i}"
        (tmp / name).mkdir(parents=True)
        conf = tmp / name / "nats.conf"
        conf.write_text(node_conf(name, tmp / name / "js", ports[i], [p for j, p in enumerate(ports) if j != i]))
        nodes.append(Node(name, conf))
    try:
        await asyncio.gather(*(n.start() for n in nodes))
        yield nodes
    finally:
        await asyncio.gather(*(n.stop() for n in nodes))
