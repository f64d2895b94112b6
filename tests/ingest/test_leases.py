"""Lease semantics on a real sw-leases bucket: one owner, refresh by revision, expiry, release."""

from __future__ import annotations

import pytest
from nats.js.kv import KeyValue

from shared.leases import LeaseLost, LeaseStore, bucket_ttl
from tests.ingest.conftest import LEASE_TTL_S, eventually


async def test_one_owner_refresh_release(leases: KeyValue) -> None:
    a = LeaseStore(leases, "ingest-a", 2.0)
    b = LeaseStore(leases, "ingest-b", 2.0)
    revision = await a.claim("cam")
    assert revision is not None
    assert await b.claim("cam") is None
    assert await a.owner("cam") == "ingest-a"

    refreshed = await a.refresh("cam", revision)
    assert refreshed > revision
    with pytest.raises(LeaseLost):
        await b.refresh("cam", revision)  # a stale revision is not ownership

    await a.release("cam", refreshed)
    assert await a.owner("cam") is None
    assert await b.claim("cam") is not None, "a released lease can be claimed at once"
    await a.release("cam", refreshed)  # not ours any more: a no-op
    assert await b.owner("cam") == "ingest-b"


async def test_an_unrefreshed_lease_expires_and_moves(leases: KeyValue) -> None:
    a = LeaseStore(leases, "ingest-a", 2.0)
    b = LeaseStore(leases, "ingest-b", 2.0)
    revision = await a.claim("cam")
    assert revision is not None
    assert await bucket_ttl(leases, 99.0) == LEASE_TTL_S

    async def b_claims() -> bool:
        return await b.claim("cam") is not None

    await eventually(b_claims, LEASE_TTL_S + 5, "the lease to expire and move to b")
    with pytest.raises(LeaseLost):
        await a.refresh("cam", revision)


async def test_release_after_a_late_refresh_still_frees_the_key(leases: KeyValue) -> None:
    a = LeaseStore(leases, "ingest-a", 2.0)
    first = await a.claim("cam")
    assert first is not None
    await a.refresh("cam", first)  # a refresh the stopping source did not see complete
    await a.release("cam", first)
    assert await a.owner("cam") is None
