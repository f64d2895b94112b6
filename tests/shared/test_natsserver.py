"""The embedded server picks its own port, reports readiness itself and stops cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import nats
import pytest

from shared.natsserver import EmbeddedNatsServer, render_config


async def test_two_servers_get_distinct_ports_and_jetstream(tmp_path: Path) -> None:
    async with EmbeddedNatsServer(tmp_path / "a") as a, EmbeddedNatsServer(tmp_path / "b") as b:
        assert a.port > 0 and b.port > 0 and a.port != b.port
        nc = await nats.connect(a.url)
        info = await nc.jetstream().account_info()
        await nc.close()
        assert info.limits is not None


async def test_stop_ends_the_process_and_is_idempotent(tmp_path: Path) -> None:
    server = await EmbeddedNatsServer(tmp_path).start()
    pid = server.pid
    assert pid is not None
    await server.stop()
    await server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_config_enables_jetstream_on_loopback(tmp_path: Path) -> None:
    text = render_config(tmp_path, "127.0.0.1", -1, 8)
    assert 'listen: "127.0.0.1:-1"' in text and "jetstream" in text and "max_payload: 8MB" in text
