"""Session checkpoints in the sw-scene KV bucket: what a new owner continues from.

Value: msgpack `{v, sid, pipeline, analyser}` (pipeline = `ScenePipeline.state()`: the last RESULTS
seq consumed, the waiting entries, tracker arrays, scale, depth map). Plain data, never pickle: a
checkpoint is read by another process, maybe another version.

Writes are compare-and-set on the revision this owner last read or wrote, so an owner that lost
its lease without noticing (paused, partitioned) cannot overwrite its successor's checkpoints: its
next write fails with `CheckpointConflict` and it stops. Values larger than the configured bound
are refused before they reach NATS (the bucket also enforces `max_value_size`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgpack
from nats.js import JetStreamContext, api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared import subjects
from shared.jetstream import ensure_bucket

VERSION = 1
TTL_S = 86_400.0  # a checkpoint left behind (session deleted while no owner ran) goes after a day


class CheckpointConflict(Exception):
    """Someone else wrote this session's checkpoint: we are no longer its owner."""


class CheckpointTooLarge(Exception):
    pass


def bucket_config(max_value_bytes: int, max_bucket_bytes: int, replicas: int) -> api.KeyValueConfig:
    return api.KeyValueConfig(
        bucket=subjects.SCENE_CHECKPOINTS_BUCKET,
        history=1,
        ttl=TTL_S,
        max_value_size=max_value_bytes,
        max_bytes=max_bucket_bytes,
        replicas=replicas,
    )


async def open_bucket(js: JetStreamContext, max_value_bytes: int, max_bucket_bytes: int, replicas: int) -> KeyValue:
    return await ensure_bucket(js, bucket_config(max_value_bytes, max_bucket_bytes, replicas))


def encode(sid: str, pipeline: Mapping[str, Any], analyser: Mapping[str, Any], max_bytes: int) -> bytes:
    data = msgpack.packb({"v": VERSION, "sid": sid, "pipeline": pipeline, "analyser": analyser}, use_bin_type=True)
    if len(data) > max_bytes:
        raise CheckpointTooLarge(f"checkpoint of {len(data)} bytes exceeds {max_bytes}")
    return bytes(data)


def decode(sid: str, data: bytes) -> dict[str, Any]:
    body = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if not isinstance(body, dict) or body.get("v") != VERSION or body.get("sid") != sid:
        raise ValueError("not a checkpoint of this session or version")
    if not isinstance(body.get("pipeline"), dict) or not isinstance(body.get("analyser"), dict):
        raise ValueError("checkpoint without pipeline or analyser state")
    return body


class CheckpointStore:
    def __init__(self, kv: KeyValue, timeout_s: float) -> None:
        self.kv = kv
        self.timeout_s = timeout_s

    async def load(self, sid: str) -> tuple[bytes | None, int | None]:
        """The stored value and its revision; (None, None) when there is none."""
        try:
            async with asyncio.timeout(self.timeout_s):
                entry = await self.kv.get(sid)
        except KeyNotFoundError:
            return None, None
        if not entry.value or entry.operation in ("DEL", "PURGE"):
            return None, entry.revision
        return entry.value, entry.revision

    async def save(self, sid: str, data: bytes, revision: int | None) -> int:
        """Write with compare-and-set; the new revision. Raises `CheckpointConflict`."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if revision is None:
                    return await self.kv.create(sid, data)
                return await self.kv.update(sid, data, last=revision)
        except KeyWrongLastSequenceError as exc:
            raise CheckpointConflict(sid) from exc

    async def delete(self, sid: str) -> None:
        async with asyncio.timeout(self.timeout_s):
            await self.kv.delete(sid)
