"""Provisioning against a real nats-server: complete, idempotent, never resets anything."""

from __future__ import annotations

from nats.js import JetStreamContext

from shared import subjects
from shared.jetstream import provision
from shared.settings import NatsSettings


async def test_provision_creates_streams_buckets_and_consumers(js: JetStreamContext) -> None:
    frames = await js.stream_info(subjects.FRAMES_STREAM)
    assert frames.config.subjects == [subjects.FRAMES_ALL]
    assert frames.config.max_msgs_per_subject == NatsSettings().frames_max_msgs_per_subject
    results = await js.stream_info(subjects.RESULTS_STREAM)
    assert results.config.subjects == [subjects.RESULTS_ALL]
    scene = await js.stream_info(subjects.SCENE_STREAM)
    assert scene.config.subjects == [subjects.SCENE_ALL]
    assert scene.config.max_age == NatsSettings().results_max_age_s
    events = await js.stream_info(subjects.EVENTS_STREAM)
    assert events.config.subjects == [subjects.EVENTS_ALL]
    assert events.config.max_age == NatsSettings().events_max_age_s
    for durable in (subjects.DETECTOR_DURABLE, subjects.DEPTH_DURABLE):
        info = await js.consumer_info(subjects.FRAMES_STREAM, durable)
        assert info.config.filter_subject == subjects.FRAMES_ALL
        assert info.config.max_deliver is not None and info.config.max_deliver > 1
    assert (await js.key_value(subjects.SESSIONS_BUCKET)).__class__.__name__ == "KeyValue"
    leases = await (await js.key_value(subjects.LEASES_BUCKET)).status()
    assert leases.ttl == NatsSettings().lease_ttl_s


async def test_reprovisioning_keeps_messages_positions_and_keys(
    js: JetStreamContext, nats_settings: NatsSettings
) -> None:
    await js.publish(subjects.frames("s1"), b"one")
    await js.publish(subjects.results("s1", subjects.ResultKind.DET), b"r")
    sessions = await js.key_value(subjects.SESSIONS_BUCKET)
    await sessions.put("s1", b"{}")
    sub = await js.pull_subscribe_bind(subjects.DETECTOR_DURABLE, subjects.FRAMES_STREAM)
    [msg] = await sub.fetch(1, timeout=5)
    await msg.ack_sync()

    changed = nats_settings.model_copy(update={"results_max_age_s": 90.0})
    await provision(js, changed)
    await provision(js, changed)

    assert (await js.stream_info(subjects.FRAMES_STREAM)).state.messages == 1
    results = await js.stream_info(subjects.RESULTS_STREAM)
    assert results.state.messages == 1
    assert results.config.max_age == 90.0
    assert (await sessions.get("s1")).value == b"{}"
    detector = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
    assert detector.delivered.stream_seq == 1 and detector.num_ack_pending == 0
