"""Real nats-servers started from the deployment's own configuration files.

compose's deploy/nats/nats.conf and the Kubernetes cluster configuration
(rendered from deploy/k8s/nats) are used as shipped except for what cannot
work on a test machine: listen addresses become 127.0.0.1 with ports the
server picks itself (cluster ports and routes: free loopback ports, since the
nodes must know each other's), pod DNS names in the routes become those
ports, and the store and pid file move to the test's tmp dir. Authentication,
JetStream, server names and limits stay exactly as deployed. Each rewrite is
asserted to match exactly once, so a changed file fails here instead of being
silently tested in some other shape. Servers are stopped by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from shared.natsserver import find_binary
from tests.deploy.manifests import REPO
from tests.support.net import free_port

COMPOSE_NATS_CONF = REPO / "deploy" / "nats" / "nats.conf"
_CLIENT = re.compile(r"Listening for client connections on \S+:(\d+)")
_HTTP = re.compile(r"Starting http monitor on \S+:(\d+)")
_READY = "Server is ready"
_ROUTE = re.compile(r"nats://nats-(\d+)\.[\w.-]+:\d+")
# The listeners, by role (never by port number): the client listener is the top-level `listen`,
# the cluster's is the indented one inside `cluster {}`, monitoring is `http`.
CLIENT_LISTEN = re.compile(r"^listen: 0\.0\.0\.0:(\d+)$", re.M)
_MONITOR_LISTEN = re.compile(r"^http: 0\.0\.0\.0:\d+$", re.M)
_CLUSTER_LISTEN = re.compile(r"^(\s+)listen: 0\.0\.0\.0:\d+$", re.M)


_MQTT_LISTEN = "  host: 0.0.0.0\n  port: 1883"  # the MQTT listener (events for MQTT clients)
_MQTT_LOCAL = "  host: 127.0.0.1\n  port: -1"


def rewrite(conf: str, replacements: dict[re.Pattern[str] | str, str]) -> str:
    """Apply each replacement (a literal line or a line pattern), asserting it matches exactly once."""
    for old, new in replacements.items():
        pattern = old if isinstance(old, re.Pattern) else re.compile(re.escape(old))
        conf, count = pattern.subn(new, conf)
        assert count == 1, f"the deployed nats config no longer has {pattern.pattern!r} exactly once"
    return conf


def client_port(conf: str) -> int:
    """The port a deployed config listens on for clients."""
    found = CLIENT_LISTEN.search(conf)
    assert found, "the deployed nats config has no client listener"
    return int(found.group(1))


def local_compose_conf(conf: str, store: Path) -> str:
    """compose's config with loopback listeners on free ports and a tmp store."""
    return rewrite(
        conf,
        {
            CLIENT_LISTEN: "listen: 127.0.0.1:-1",
            _MONITOR_LISTEN: "http: 127.0.0.1:-1",
            "store_dir: /data": f'store_dir: "{store}"',
            _MQTT_LISTEN: _MQTT_LOCAL,
        },
    )


def local_cluster_conf(conf: str, node: Path, cluster_ports: list[int], index: int) -> str:
    """One node of the Kubernetes cluster config: pod DNS routes -> loopback ports."""
    conf = rewrite(
        conf,
        {
            CLIENT_LISTEN: "listen: 127.0.0.1:-1",
            _MONITOR_LISTEN: "http: 127.0.0.1:-1",
            "pid_file: /var/run/nats/nats.pid": f'pid_file: "{node / "nats.pid"}"',
            "store_dir: /data": f'store_dir: "{node / "jetstream"}"',
            _CLUSTER_LISTEN: rf"\g<1>listen: 127.0.0.1:{cluster_ports[index]}",
            _MQTT_LISTEN: _MQTT_LOCAL,
        },
    )
    routes = _ROUTE.findall(conf)
    assert sorted(map(int, routes)) == list(range(len(cluster_ports))), routes
    return _ROUTE.sub(lambda m: f"nats://127.0.0.1:{cluster_ports[int(m.group(1))]}", conf)


@dataclass
class RunningNats:
    client_port: int
    http_port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def monitor(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


async def _read_ports(stderr: asyncio.StreamReader) -> RunningNats:
    client = http = None
    while True:
        line = (await stderr.readline()).decode(errors="replace")
        if not line:
            raise RuntimeError("nats-server exited before it was ready")
        if m := _CLIENT.search(line):
            client = int(m.group(1))
        if m := _HTTP.search(line):
            http = int(m.group(1))
        if _READY in line:
            assert client and http, "server ready without reporting its ports"
            return RunningNats(client, http)


async def _drain(stderr: asyncio.StreamReader) -> None:
    """Keep reading the server's log so that its pipe never fills and blocks it."""
    while await stderr.readline():
        pass


@contextlib.asynccontextmanager
async def nats_server(conf: Path, env: dict[str, str]) -> AsyncIterator[RunningNats]:
    """Run `nats-server -c conf` with exactly `env`; yield once it says it is ready."""
    proc = await asyncio.create_subprocess_exec(
        str(find_binary()), "-c", str(conf),
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    pump: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(20):
            running = await _read_ports(proc.stderr)
        pump = asyncio.create_task(_drain(proc.stderr))
        yield running
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


@contextlib.asynccontextmanager
async def compose_nats(tmp: Path, env: dict[str, str]) -> AsyncIterator[RunningNats]:
    """Run nats-server with compose's config and `env` (the nats service's environment)."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nats.conf"
    conf.write_text(local_compose_conf(COMPOSE_NATS_CONF.read_text(), tmp / "jetstream"))
    async with nats_server(conf, env) as running:
        yield running


@contextlib.asynccontextmanager
async def k8s_cluster(
    files: dict[str, str], tmp: Path, env: dict[str, str], size: int
) -> AsyncIterator[list[RunningNats]]:
    """The Kubernetes NATS cluster: `size` nodes from the rendered ConfigMap's files, POD_NAME=nats-<i>."""
    ports = [free_port() for _ in range(size)]
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for i in range(size):
            node = tmp / f"nats-{i}"
            node.mkdir(parents=True)
            for name, text in files.items():
                (node / name).write_text(text)
            (node / "nats.conf").write_text(local_cluster_conf(files["nats.conf"], node, ports, i))
            server = nats_server(node / "nats.conf", {**env, "POD_NAME": f"nats-{i}"})
            nodes.append(await stack.enter_async_context(server))
        yield nodes
