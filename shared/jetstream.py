"""Idempotent JetStream provisioning: the FRAMES, RESULTS, SCENE and EVENTS streams,
the KV buckets and the worker consumers of DESIGN.md section 2.

Every service calls `provision()` at start-up, so the order in which services
start does not matter. Re-running it on an existing deployment creates what is
missing and updates the mutable limits of what exists; it never deletes,
purges or resets a stream, a bucket or a consumer's position.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from shared import subjects
from shared.settings import NatsSettings

log = logging.getLogger(__name__)

WORKER_DURABLES = (subjects.DETECTOR_DURABLE, subjects.DEPTH_DURABLE)


def kept_stream(
    name: str, subject: str, max_age_s: float, max_bytes: int, s: NatsSettings, **extra: Any
) -> api.StreamConfig:
    """A file stream that keeps the newest messages within its limits (discarding the oldest)."""
    return api.StreamConfig(
        name=name,
        subjects=[subject],
        retention=api.RetentionPolicy.LIMITS,
        discard=api.DiscardPolicy.OLD,
        max_age=max_age_s,
        max_bytes=max_bytes,
        storage=api.StorageType.FILE,
        num_replicas=s.stream_replicas,
        **extra,
    )


def frames_stream(s: NatsSettings) -> api.StreamConfig:
    return kept_stream(
        subjects.FRAMES_STREAM,
        subjects.FRAMES_ALL,
        s.frames_max_age_s,
        s.frames_max_bytes,
        s,
        max_msgs_per_subject=s.frames_max_msgs_per_subject,
        duplicate_window=min(120.0, s.frames_max_age_s),
    )


def results_stream(s: NatsSettings) -> api.StreamConfig:
    return kept_stream(
        subjects.RESULTS_STREAM, subjects.RESULTS_ALL, s.results_max_age_s, s.results_max_bytes, s, allow_direct=True
    )


def scene_stream(s: NatsSettings) -> api.StreamConfig:
    """Finished client messages; retention = the SSE resume window, like RESULTS."""
    return kept_stream(
        subjects.SCENE_STREAM,
        subjects.SCENE_ALL,
        s.results_max_age_s,
        s.scene_max_bytes,
        s,
        duplicate_window=min(120.0, s.results_max_age_s),
        allow_direct=True,
    )


def events_stream(s: NatsSettings) -> api.StreamConfig:
    """Durable events: days of retention, replayable over REST; `Nats-Msg-Id` = event id."""
    return kept_stream(
        subjects.EVENTS_STREAM,
        subjects.EVENTS_ALL,
        s.events_max_age_s,
        s.events_max_bytes,
        s,
        duplicate_window=120.0,
        allow_direct=True,
    )


def durable_consumer(
    durable: str, filter_subject: str, replicas: int, max_ack_pending: int, **extra: Any
) -> api.ConsumerConfig:
    """A durable pull consumer with explicit acks, new messages only unless `deliver_policy` says otherwise."""
    extra.setdefault("deliver_policy", api.DeliverPolicy.NEW)
    return api.ConsumerConfig(
        durable_name=durable,
        filter_subject=filter_subject,
        ack_policy=api.AckPolicy.EXPLICIT,
        max_ack_pending=max_ack_pending,
        num_replicas=replicas,
        **extra,
    )


def worker_consumer(durable: str, s: NatsSettings) -> api.ConsumerConfig:
    """The shared durable that every replica of one worker type binds."""
    return durable_consumer(
        durable,
        subjects.FRAMES_ALL,
        s.stream_replicas,
        s.consumer_max_ack_pending,
        ack_wait=s.consumer_ack_wait_s,
        max_deliver=s.consumer_max_deliver,
        max_waiting=512,
    )


def sessions_bucket(s: NatsSettings) -> api.KeyValueConfig:
    """Bounded in total and per record: a flood of sessions fills it (writes refused), not the disk."""
    return api.KeyValueConfig(
        bucket=subjects.SESSIONS_BUCKET,
        history=1,
        replicas=s.stream_replicas,
        max_bytes=s.sessions_max_bytes,
        max_value_size=s.sessions_max_value_bytes,
    )


def leases_bucket(s: NatsSettings) -> api.KeyValueConfig:
    return api.KeyValueConfig(
        bucket=subjects.LEASES_BUCKET,
        history=1,
        ttl=s.lease_ttl_s,
        replicas=s.stream_replicas,
        max_bytes=s.leases_max_bytes,
        max_value_size=LEASE_MAX_VALUE_BYTES,
    )


LEASE_MAX_VALUE_BYTES = 1024  # an ingest instance id and a timestamp


async def ensure_stream(js: JetStreamContext, config: api.StreamConfig) -> None:
    """Create the stream, or update its limits in place (never recreate)."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", extra={"stream": config.name})
        return
    await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, stream: str, config: api.ConsumerConfig) -> None:
    """Create the durable if absent; an existing one keeps its position."""
    try:
        await js.consumer_info(stream, config.durable_name or "")
    except NotFoundError:
        await js.add_consumer(stream, config)
        log.info("consumer created", extra={"stream": stream, "durable": config.durable_name})


async def ensure_bucket(js: JetStreamContext, config: api.KeyValueConfig) -> KeyValue:
    """Create the bucket, or bring an existing one's size limits up to date (never recreate)."""
    try:
        kv = await js.key_value(config.bucket)
    except (BucketNotFoundError, NotFoundError):
        pass
    else:
        await _update_bucket_limits(js, config)
        return kv
    try:
        kv = await js.create_key_value(config)
    except BadRequestError:  # created concurrently by another service
        return await js.key_value(config.bucket)
    log.info("kv bucket created", extra={"bucket": config.bucket})
    return kv


async def _update_bucket_limits(js: JetStreamContext, config: api.KeyValueConfig) -> None:
    """A bucket made before the limits existed gets them (KV buckets are streams `KV_<name>`)."""
    info = await js.stream_info(f"KV_{config.bucket}")
    current = info.config
    wanted_bytes = config.max_bytes if config.max_bytes is not None else -1
    wanted_value = config.max_value_size if config.max_value_size is not None else -1
    if current.max_bytes == wanted_bytes and current.max_msg_size == wanted_value:
        return
    await js.update_stream(
        api.StreamConfig.from_response({**current.as_dict(), "max_bytes": wanted_bytes, "max_msg_size": wanted_value})
    )
    log.info("kv bucket limits updated", extra={"bucket": config.bucket})


async def provision(js: JetStreamContext, settings: NatsSettings) -> None:
    """Make sure every stream, bucket and worker consumer exists."""
    await ensure_stream(js, frames_stream(settings))
    await ensure_stream(js, results_stream(settings))
    await ensure_stream(js, scene_stream(settings))
    await ensure_stream(js, events_stream(settings))
    await ensure_bucket(js, sessions_bucket(settings))
    await ensure_bucket(js, leases_bucket(settings))
    for durable in WORKER_DURABLES:
        await ensure_consumer(js, subjects.FRAMES_STREAM, worker_consumer(durable, settings))
