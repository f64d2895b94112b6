"""Events: (a) what the evaluator costs the scene stage per frame, (b) event -> webhook latency.

(a) `evaluator`: the same synthetic frames (N tracks walking across the frame) through
    `NoAnalysis` and `EventAnalyser` with Z zones and L lines, in one run; reports microseconds
    per frame and per track, and the state size (msgpack bytes) that goes into the checkpoint.
(b) `webhook`: an embedded nats-server, the notifier in this process, a local HTTP receiver on
    127.0.0.1; E events published to EVENTS one by one at a steady rate; latency = receiver
    arrival - publish time. (The capture-to-webhook time of the issue's note adds the pipeline's
    capture-to-scene time, measured by the end-to-end clip test after the merge.)

    python -m benchmarks.events evaluator --tracks 1,10,50 --zones 4 --lines 4
    python -m benchmarks.events webhook --events 200 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from shared import subjects
from shared.eventconfig import Webhook
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionConfig, SessionRecord, SessionStore
from tests.support.webhook_receiver import WebhookReceiver
from workers.events.evaluator import EventAnalyser
from workers.notifier.service import run as run_notifier
from workers.notifier.settings import NotifierSettings
from workers.scene.analysis import NoAnalysis, SceneAnalyser

WIDTH, HEIGHT, FPS = 1280, 720, 10.0


def frames(tracks: int, count: int) -> list[dict[str, Any]]:
    """`tracks` people walking left to right at different heights and speeds."""
    out = []
    for seq in range(count):
        detections = []
        for t in range(tracks):
            x = ((seq * (0.004 + 0.0003 * t)) + t * 0.07) % 1.0
            y = 0.3 + 0.6 * (t % 10) / 10
            cx, by = x * WIDTH, y * HEIGHT
            detections.append(
                {
                    "label": "person",
                    "class_id": 0,
                    "confidence": 0.9,
                    "track_id": t + 1,
                    "bbox": [cx - 30, by - 150, cx + 30, by],
                }
            )
        data = {"seq": seq, "timestamp": seq / FPS, "width": WIDTH, "height": HEIGHT, "detections": detections}
        out.append({"type": "detection_result", "data": data})
    return out


def config(zones: int, lines: int) -> SessionConfig:
    zone_list = [
        {
            "name": f"z{i}",
            "polygon": [[i / zones, 0.2], [(i + 0.8) / zones, 0.2], [(i + 0.8) / zones, 0.95], [i / zones, 0.95]],
            "dwell_s": 3,
        }
        for i in range(zones)
    ]
    line_list = [
        {"name": f"l{i}", "a": [(i + 0.5) / lines, 0.95], "b": [(i + 0.5) / lines, 0.05]} for i in range(lines)
    ]
    return SessionConfig.model_validate({"zones": zone_list, "lines": line_list})


def time_per_frame(analyser: SceneAnalyser, msgs: list[dict[str, Any]]) -> tuple[float, int]:
    events = 0
    started = time.perf_counter()
    for i, m in enumerate(msgs):
        events += len(analyser.observe(m, i))
    return (time.perf_counter() - started) / len(msgs) * 1e6, events


def evaluator(args: argparse.Namespace) -> None:
    print(
        "| tracks | zones | lines | NoAnalysis us/frame | EventAnalyser us/frame | per track | events | state bytes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for tracks in args.tracks:
        msgs = frames(tracks, args.frames)
        base, _ = time_per_frame(NoAnalysis(), msgs)
        analyser = EventAnalyser("bench", config(args.zones, args.lines))
        cost, events = time_per_frame(analyser, msgs)
        state = len(msgpack.packb(analyser.state()))
        cells = [tracks, args.zones, args.lines, f"{base:.1f}", f"{cost:.1f}", f"{cost / tracks:.1f}", events, state]
        print("| " + " | ".join(str(c) for c in cells) + " |")


async def webhook(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedNatsServer(Path(tmp)) as server:
            settings = NotifierSettings(nats_url=server.url, log_json=False, log_level="WARNING")
            nc = await connect(settings, "bench")
            js = nc.jetstream()
            await provision(js, settings)
            receiver = await WebhookReceiver().start()
            store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
            hook = Webhook.model_validate({"url": receiver.url, "secret": "bench"})
            record = SessionRecord(sid="bench", token_hash="h", config=SessionConfig(webhooks=[hook]))  # noqa: S106
            await store.create(record)
            stop = asyncio.Event()
            task = asyncio.create_task(run_notifier(settings, stop))
            await asyncio.sleep(2)
            sent: dict[str, float] = {}
            for i in range(args.events):
                ev = {"id": f"ev_{i}", "kind": "line_cross", "sid": "bench", "timestamp": time.time()}
                sent[ev["id"]] = time.time()
                body = json.dumps({"type": "event", "event": ev}).encode()
                await js.publish(subjects.events("bench", "line_cross"), body, headers={"Nats-Msg-Id": ev["id"]})
                await asyncio.sleep(1 / args.rate)
            deadline = time.monotonic() + 30
            while len(receiver.accepted()) < args.events and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            lat = sorted((r.arrived_at - sent[r.headers["x-sightwire-event-id"]]) * 1000 for r in receiver.accepted())
            stop.set()
            await task
            await receiver.stop()
            await drain_quietly(nc, 5)
    p95 = statistics.quantiles(lat, n=20)[-1]
    print(f"event publish -> webhook arrival, {len(lat)}/{args.events} events at {args.rate}/s: "
          f"p50 {statistics.median(lat):.1f} ms, p95 {p95:.1f} ms, max {lat[-1]:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("evaluator")
    ev.add_argument("--tracks", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 50])
    ev.add_argument("--zones", type=int, default=4)
    ev.add_argument("--lines", type=int, default=4)
    ev.add_argument("--frames", type=int, default=600)
    wh = sub.add_parser("webhook")
    wh.add_argument("--events", type=int, default=200)
    wh.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    if args.what == "evaluator":
        evaluator(args)
    else:
        asyncio.run(webhook(args))


if __name__ == "__main__":
    main()
