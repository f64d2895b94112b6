"""Session-creation quotas: per client address, per API key and in total (429 + Retry-After).

Creating a session costs a KV record and, for a camera, an ingest pull; one
client creating thousands a second (issue 13: 5,000 in 6.6 s) would fill the
bucket and the broker. Each dimension is a token bucket refilled per minute,
so a normal client never notices and a flood gets 429 with `Retry-After` (the
seconds until its next token). The buckets are the project's one
`shared.rates.RateLimiter`. Buckets are per gateway process (every replica
enforces its own share); the sw-sessions bucket's `max_bytes` is the hard
cluster-wide cap behind them. The per-address and per-key tables are bounded
(least recently used evicted), so the limiter's own memory cannot be flooded.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Header
from starlette.requests import HTTPConnection

from shared.errors import RateLimited
from shared.rates import RateLimiter

ANONYMOUS = "-"


def per_minute(per_min: float, burst: int) -> RateLimiter:
    """A bucket of `per_min` tokens a minute, at most `burst` saved (starts full)."""
    return RateLimiter(per_min / 60.0, burst)


def wait_for_token(bucket: RateLimiter, now: float) -> float:
    """0 if a token was taken, else the seconds until one is available."""
    return 0.0 if bucket.take(now) else bucket.wait_s(now)


class KeyedBuckets:
    """One bucket per key, at most `max_keys` of them (least recently used evicted)."""

    def __init__(self, per_min: float, burst: int, max_keys: int) -> None:
        self.per_min, self.burst, self.max_keys = per_min, burst, max_keys
        self._buckets: OrderedDict[str, RateLimiter] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = per_minute(self.per_min, self.burst)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return wait_for_token(bucket, now)


class SessionQuota:
    """The three session-creation limits of one gateway process."""

    def __init__(self, per_address_per_min: float, per_key_per_min: float, total_per_min: float, max_keys: int) -> None:
        burst = lambda per_min: max(1, math.ceil(per_min / 6))  # noqa: E731 - ten seconds' worth at once
        self.by_address = KeyedBuckets(per_address_per_min, burst(per_address_per_min), max_keys)
        self.by_key = KeyedBuckets(per_key_per_min, burst(per_key_per_min), max_keys)
        self.total = per_minute(total_per_min, burst(total_per_min))

    def take(self, address: str, api_key: str | None, now: float | None = None) -> None:
        """Take one creation from every applicable limit, or raise 429 with the longest wait."""
        now = time.monotonic() if now is None else now
        waits = {"client address": self.by_address.take(address, now)}
        if api_key is not None:
            waits["API key"] = self.by_key.take(_key_id(api_key), now)
        waits["gateway"] = wait_for_token(self.total, now)
        which, wait = max(waits.items(), key=lambda kv: kv[1])
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise RateLimited(
                f"too many sessions created (limit per {which}); retry after {retry} s", retry_after_s=retry
            )


def _key_id(api_key: str) -> str:
    """Buckets are keyed by a hash: the table never holds a secret."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def _presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def take_session_quota(
    conn: HTTPConnection,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Dependency of every route that creates a session."""
    quota: SessionQuota | None = getattr(conn.app.state, "session_quota", None)
    if quota is None:
        return
    address = conn.client.host if conn.client else ANONYMOUS
    quota.take(address, _presented_key(x_api_key, authorization))


SessionQuotaDep = Depends(take_session_quota)
