"""SessionLeases on a real sw-leases bucket: the claim rounds and keep-alive both services run."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from shared import subjects
from shared.leases import LeaseStore, SessionLeases


async def bucket(js: JetStreamContext) -> KeyValue:
    return await js.key_value(subjects.LEASES_BUCKET)


class NatsAway(LeaseStore):
    async def refresh(self, sid: str, revision: int) -> int:
        raise TimeoutError("nats away")


def leases_of(kv: KeyValue, instance: str, lost: list[tuple[str, str]], ttl_s: float = 30.0) -> SessionLeases:
    return SessionLeases(LeaseStore(kv, instance, 2.0), ttl_s, 0.05, 0.05, lambda sid, why: lost.append((sid, why)))


async def test_one_holder_and_a_stopping_holder_does_not_claim_twice(js: JetStreamContext) -> None:
    kv, lost = await bucket(js), []
    a, b = leases_of(kv, "a", lost), leases_of(kv, "b", lost)
    lease = await a.claim("cam")
    assert lease is not None and set(a.held) == {"cam"}
    assert await b.claim("cam") is None
    assert await a.claim("cam") is None  # still held for work that is stopping: release first
    await a.release("cam")
    assert a.held == {} and await b.claim("cam") is not None, "a released lease is claimed at once"
    await a.release("cam")  # not held: nothing happens
    assert await LeaseStore(kv, "x", 2.0).owner("cam") == "b" and lost == []


async def test_refresh_extends_and_a_taken_lease_is_reported_lost_once(js: JetStreamContext) -> None:
    kv, lost = await bucket(js), []
    a = leases_of(kv, "a", lost)
    lease = await a.claim("cam")
    assert lease is not None
    first = lease.revision
    await a.refresh_all()
    assert lease.revision > first and lost == []
    await kv.delete("cam")  # as if it expired...
    assert await LeaseStore(kv, "b", 2.0).claim("cam") is not None  # ...and another instance took it
    await a.refresh_all()
    await a.refresh_all()
    assert lost == [("cam", "taken by another instance")] and a.held == {}


async def test_an_unrefreshable_lease_is_given_up_near_its_ttl(js: JetStreamContext) -> None:
    kv, lost = await bucket(js), []
    a = leases_of(kv, "a", lost, ttl_s=0.2)
    lease = await a.claim("cam")
    assert lease is not None
    a.store = NatsAway(kv, "a", 2.0)  # refreshes now time out, though the lease is still ours
    await a.refresh_all()
    assert lost == [] and "cam" in a.held, "one failed refresh is retried"
    lease.refreshed_at -= 1.0  # most of the TTL has gone by without a refresh
    await a.refresh_all()
    assert [sid for sid, _why in lost] == ["cam"] and a.held == {}


async def test_claim_rounds_run_on_a_kick_and_survive_a_failing_round(js: JetStreamContext) -> None:
    kv, lost = await bucket(js), []
    a = SessionLeases(LeaseStore(kv, "a", 2.0), 30.0, 30.0, 30.0, lambda sid, why: lost.append((sid, why)))
    rounds: list[int] = []
    claimed = asyncio.Event()

    async def claim_round() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("one odd session")
        if await a.claim("cam") is not None:
            claimed.set()

    task = asyncio.create_task(a.run(claim_round))
    a.kick()
    async with asyncio.timeout(5):
        while not rounds:
            await asyncio.sleep(0.01)
    a.kick()  # interval is 30 s: only kicks bring rounds here
    await asyncio.wait_for(claimed.wait(), 5)
    assert len(rounds) == 2 and set(a.held) == {"cam"}
    task.cancel()
