"""The lifecycle shell against a real nats-server: explicit status, ordered and idempotent shutdown."""

from __future__ import annotations

import pytest

from gateway.runtime import GatewayRuntime, Status
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import gateway_settings


async def test_status_follows_the_lifecycle_and_close_is_idempotent(nats_server: EmbeddedNatsServer):
    runtime = GatewayRuntime(gateway_settings(nats_server.url))
    assert runtime.status is Status.NEW and not runtime.accepting and not runtime.nats_connected
    async with runtime:
        assert runtime.status is Status.RUNNING and runtime.accepting and runtime.nats_connected
        assert runtime.intake.accepting  # the intake follows the shell's status
        with pytest.raises(RuntimeError):
            await runtime.start()
        await runtime.stop_intake()
        assert runtime.status is Status.STOPPING and not runtime.intake.accepting
    assert runtime.status is Status.CLOSED and not runtime.nats_connected
    await runtime.close()  # again: nothing happens
    assert runtime.status is Status.CLOSED
