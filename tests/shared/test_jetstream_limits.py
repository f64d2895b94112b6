"""sw-sessions and sw-leases are bounded (issue 13): a new deployment and an upgraded one."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.js import api
from nats.js.errors import APIError

from shared import subjects
from shared.jetstream import provision
from shared.settings import NatsSettings


async def test_buckets_get_size_limits_also_when_they_exist(nc: NATS, nats_settings: NatsSettings) -> None:
    js = nc.jetstream()
    await js.create_key_value(api.KeyValueConfig(bucket=subjects.SESSIONS_BUCKET, history=1))  # an old, unbounded one
    settings = nats_settings.model_copy(
        update={"sessions_max_bytes": 2 * 1024 * 1024, "sessions_max_value_bytes": 8192}
    )
    await provision(js, settings)
    sessions = (await js.stream_info(f"KV_{subjects.SESSIONS_BUCKET}")).config
    leases = (await js.stream_info(f"KV_{subjects.LEASES_BUCKET}")).config
    assert (sessions.max_bytes, sessions.max_msg_size) == (2 * 1024 * 1024, 8192)
    assert leases.max_bytes == settings.leases_max_bytes and leases.max_msg_size == 1024
    kv = await js.key_value(subjects.SESSIONS_BUCKET)
    await kv.put("small", b"x" * 1000)
    with pytest.raises(APIError):
        await kv.put("big", b"x" * 9000)  # a record over max_value_size is refused by the server
