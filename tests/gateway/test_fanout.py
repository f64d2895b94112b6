"""ClientSubscription rules: latest wins, fps cap, increasing seq and ids, bounded errors, resume joins.

A hand-driven clock makes the FPS cap exact without sleeping; `next(0)` asks
"what is due right now?".
"""

from __future__ import annotations

import asyncio
import itertools

from gateway.fanout import ClientSubscription, LatencyWindow, OutMessage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def result(event_id: int, seq: int) -> OutMessage:
    return OutMessage(event_id, "detection_result", {"type": "detection_result", "data": {"seq": seq}}, seq=seq)


def error(event_id: int) -> OutMessage:
    return OutMessage(event_id, "error", {"type": "error", "error_code": "INVALID_IMAGE"})


def closed() -> OutMessage:
    return OutMessage(0, "closed", {"type": "session_closed"})


def subscription(clock: Clock, fps: int = 2, session_fps: int = 30, buffer: int = 4) -> ClientSubscription:
    return ClientSubscription("sid", "sse", fps, session_fps, buffer, clock=clock)


async def drain_now(sub: ClientSubscription) -> list[OutMessage]:
    out = []
    while (msg := await sub.next(0)) is not None:
        out.append(msg)
    return out


async def test_latest_wins_and_intermediate_results_count_as_skipped():
    clock = Clock()
    sub = subscription(clock, fps=2)
    sub.offer(result(1, 10))
    assert [m.seq for m in await drain_now(sub)] == [10]
    for event_id, seq in ((2, 11), (3, 12), (4, 13)):
        sub.offer(result(event_id, seq))
    assert await drain_now(sub) == []  # the next slot is 0.5 s away
    clock.now += 0.5
    assert [m.seq for m in await drain_now(sub)] == [13]
    assert sub.skipped == 2 and sub.delivered == 2


async def test_fps_cap_over_a_simulated_stream():
    clock = Clock()
    sub = subscription(clock, fps=10)
    delivered = []
    for n in range(1, 151):  # 15 fps for 10 s
        sub.offer(result(n, n))
        delivered += await drain_now(sub)
        clock.now += 1 / 15
    clock.now += 1
    delivered += await drain_now(sub)
    assert 95 <= len(delivered) <= 102
    seqs = [m.seq or 0 for m in delivered]
    assert seqs == sorted(set(seqs))
    assert sub.delivered + sub.skipped == 150


async def test_session_fps_caps_the_client_override_and_follows_changes():
    clock = Clock()
    sub = subscription(clock, fps=20, session_fps=5)
    assert sub.delivery_fps == 5
    sub.set_session_fps(30)
    assert sub.delivery_fps == 20
    sub.set_session_fps(1)
    assert sub.delivery_fps == 1


async def test_seq_never_goes_back_and_event_ids_never_repeat():
    clock = Clock()
    sub = subscription(clock, fps=30)
    sub.offer(result(5, 50))
    sub.offer(result(4, 60))  # older event id: a duplicate from an overlap
    sub.offer(result(6, 40))  # older frame (out of order)
    out = await drain_now(sub)
    assert [(m.event_id, m.seq) for m in out] == [(5, 50)]


async def test_errors_bypass_the_fps_limit_but_are_bounded():
    clock = Clock()
    sub = subscription(clock, fps=1, buffer=3)
    sub.offer(result(1, 1))
    await drain_now(sub)
    for event_id in range(2, 8):
        sub.offer(error(event_id))
    out = await drain_now(sub)
    assert [m.event_id for m in out] == [5, 6, 7]  # the newest three, at once
    assert sub.errors_dropped == 3


async def test_a_pending_result_older_than_an_error_is_skipped_to_keep_ids_increasing():
    clock = Clock()
    sub = subscription(clock, fps=1)
    sub.offer(result(1, 1))
    await drain_now(sub)
    sub.offer(result(2, 2))
    sub.offer(error(3))
    clock.now += 1
    sub.offer(result(4, 4))
    out = await drain_now(sub)
    assert [m.event_id for m in out] == [3, 4]
    assert sub.skipped == 1


async def test_close_comes_after_pending_errors_and_ends_the_subscription():
    clock = Clock()
    sub = subscription(clock)
    sub.offer(error(1))
    sub.close(closed())
    sub.offer(result(2, 2))
    out = await drain_now(sub)
    assert [m.kind for m in out] == ["error", "closed"]
    assert await sub.next(0.01) is None


async def test_next_waits_for_an_offer():
    sub = ClientSubscription("sid", "ws", 30, 30, 4)

    async def later() -> None:
        await asyncio.sleep(0.05)
        sub.offer(result(1, 1))

    task = asyncio.create_task(later())
    msg = await sub.next(5)
    await task
    assert msg is not None and msg.seq == 1
    assert await sub.next(0.01) is None


async def test_resume_replays_in_order_then_joins_live_without_gap_or_duplicate():
    clock = Clock()
    sub = subscription(clock, fps=1, buffer=64)
    sub.begin_replay(10)
    sub.offer(result(13, 103))  # live, arrives while the replay runs: held
    sub.offer(result(15, 105))
    for event_id in (11, 12, 13):  # the replay overlaps the live feed at 13
        assert await sub.replay(result(event_id, 90 + event_id), wait_s=1)
    sub.end_replay()
    out = await drain_now(sub)
    assert [m.event_id for m in out] == [11, 12, 13, 15]


async def test_resume_ignores_ids_at_or_below_last_event_id():
    clock = Clock()
    sub = subscription(clock, fps=30, buffer=8)
    sub.begin_replay(20)
    await sub.replay(result(20, 200), wait_s=1)
    await sub.replay(result(21, 210), wait_s=1)
    sub.end_replay()
    assert [m.event_id for m in await drain_now(sub)] == [21]


async def test_replay_waits_for_room_and_gives_up_on_a_reader_that_never_reads():
    sub = ClientSubscription("sid", "sse", 30, 30, 2)
    sub.begin_replay(0)
    assert await sub.replay(result(1, 1), wait_s=0.05)
    assert await sub.replay(result(2, 2), wait_s=0.05)
    assert not await sub.replay(result(3, 3), wait_s=0.05)  # backlog full, nobody reads


async def test_latency_window_percentiles():
    window = LatencyWindow(size=100)
    assert window.percentiles()["p50"] is None
    for value in range(1, 101):
        window.add(float(value))
    stats = window.percentiles()
    assert stats["p50"] == 50.5 and stats["p99"] is not None and 98 < stats["p99"] <= 100


async def test_input_at_the_client_rate_is_never_delayed_by_jitter_or_a_late_result():
    clock = Clock()
    sub = subscription(clock, fps=10)
    start = clock.now + 1
    for n in range(50):
        jitter = 0.01 if n % 2 else -0.01
        late = 0.07 if n == 20 else 0.0  # one result 70 ms late
        clock.now = start + n * 0.1 + jitter + late
        sub.offer(result(n + 1, n + 1))
        assert [m.seq for m in await drain_now(sub)] == [n + 1], n  # sent on arrival
    assert sub.skipped == 0


async def test_the_rate_stays_capped_after_an_idle_spell():
    clock = Clock()
    sub = subscription(clock, fps=2)
    clock.now += 60  # idle: credit is capped at two results
    sent = 0
    for n in range(1, 31):  # then 30 results in one second
        sub.offer(result(n, n))
        sent += len(await drain_now(sub))
        clock.now += 1 / 30
    assert sent <= 2 + 2  # the bucket's depth plus one second's worth


async def test_after_a_burst_input_at_the_client_rate_waits_no_longer_than_its_jitter():
    clock = Clock()
    sub = subscription(clock, fps=10)
    for n in range(1, 31):  # a burst at 30/s drains the bucket
        sub.offer(result(n, n))
        await drain_now(sub)
        clock.now += 1 / 30
    start, waits = clock.now, []
    for n in range(31, 131):  # then exactly the client's rate, +-10 ms of jitter, one result 70 ms late
        arrival = start + (n - 31) * 0.1 + (0.01 if n % 2 else -0.01) + (0.07 if n == 80 else 0.0)
        clock.now = max(clock.now, arrival)
        sub.offer(result(n, n))
        while not await drain_now(sub):
            clock.now += 0.001
        waits.append(clock.now - arrival)
    assert max(waits[5:]) <= 0.021, waits  # never more than the jitter: waits do not pile up


class RecordingPusher:
    """A transport writer: takes what `offer()` pushes while `idle`."""

    def __init__(self) -> None:
        self.idle = True
        self.pushed: list[OutMessage] = []

    def ready(self) -> bool:
        return self.idle

    def push(self, msg: OutMessage) -> None:
        self.pushed.append(msg)


async def test_an_attached_pusher_gets_due_results_from_offer_under_the_same_fps_cap():
    clock = Clock()
    sub = subscription(clock, fps=2)
    pusher = RecordingPusher()
    sub.attach(pusher)
    pushed_at: list[float] = []
    for event_id in range(1, 21):  # 10 per second for 2 s
        before = len(pusher.pushed)
        sub.offer(result(event_id, event_id))
        pushed_at += [clock.now] * (len(pusher.pushed) - before)
        clock.now += 0.1
    seqs = [m.seq for m in pusher.pushed]
    assert seqs[0] == 1 and seqs == sorted(seqs) and 3 <= len(seqs) <= 4  # 1 at once, then 2/s
    assert all(b - a >= 0.5 - 1e-6 for a, b in itertools.pairwise(pushed_at))
    rest = await drain_now(sub)  # only the newest result, left pending for its slot, remains
    assert [m.seq for m in rest] in ([], [20])
    assert sub.delivered == len(seqs) + len(rest) and sub.skipped == 20 - sub.delivered


async def test_nothing_is_pushed_past_queued_errors_events_a_replay_or_a_busy_writer():
    clock = Clock()
    sub = subscription(clock, fps=30)
    pusher = RecordingPusher()
    sub.attach(pusher)
    sub.offer(error(1))
    sub.offer(result(2, 2))  # the error is still queued for next(): the result must wait behind it
    assert pusher.pushed == [] and [m.event_id for m in await drain_now(sub)] == [1, 2]
    pusher.idle = False
    clock.now += 1
    sub.offer(result(3, 3))  # a write is in progress: next() sends it
    assert pusher.pushed == [] and [m.seq for m in await drain_now(sub)] == [3]
    pusher.idle = True
    sub.begin_replay(3)
    clock.now += 1
    sub.offer(result(4, 4))  # held during a replay
    assert pusher.pushed == []
    sub.end_replay()  # live again: the held result is due and nothing is queued, so it is pushed
    assert [m.seq for m in pusher.pushed] == [4]
    sub.attach(None)
    clock.now += 1
    sub.offer(result(5, 5))
    assert [m.seq for m in pusher.pushed] == [4] and [m.seq for m in await drain_now(sub)] == [5]


async def test_a_client_at_the_session_rate_loses_nothing_to_results_that_finish_in_pairs():
    clock = Clock()
    sub = subscription(clock, fps=15, session_fps=15)
    start, period = clock.now, 1 / 15
    for n in range(300):  # 20 s at 15 fps; two inference requests finish frames in pairs, ~5 ms apart
        pair_start = start + (n // 2) * 2 * period + 0.06
        clock.now = max(clock.now, pair_start + (n % 2) * 0.005)
        sub.offer(result(n + 1, n + 1))
        await drain_now(sub)
    clock.now += 1
    await drain_now(sub)
    assert sub.skipped == 0 and sub.delivered == 300


async def test_a_full_rate_client_is_still_capped_when_results_come_faster_than_the_session_rate():
    clock = Clock()
    sub = subscription(clock, fps=30, session_fps=10)  # asks more than the session's 10 fps
    assert sub.delivery_fps == 10
    sent = 0
    for n in range(1, 301):  # a backlog released at 100/s for 3 s
        sub.offer(result(n, n))
        sent += len(await drain_now(sub))
        clock.now += 0.01
    assert 3 * 10 <= sent <= 3 * 10 * 1.25 + 2  # the rate plus its headroom, plus the bucket's depth


async def test_a_full_rate_client_gets_the_burst_a_detector_releases_after_a_stall():
    clock = Clock()
    sub = subscription(clock, fps=15, session_fps=15)
    delivered = 0
    for n in range(1, 31):  # two seconds at 15 fps, then a 300 ms stall releases five results at once
        sub.offer(result(n, n))
        delivered += len(await drain_now(sub))
        clock.now += 1 / 15
    clock.now += 0.3
    for n in range(31, 36):
        sub.offer(result(n, n))
        delivered += len(await drain_now(sub))
    clock.now += 1
    delivered += len(await drain_now(sub))
    assert delivered == 35 and sub.skipped == 0
