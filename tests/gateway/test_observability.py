"""Health, readiness, stats and metrics, fed by real heartbeats on NATS; OpenAPI documents errors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from gateway.errors import ErrorBody
from shared import subjects
from shared.envelopes import Heartbeat, now_ns
from shared.natsserver import EmbeddedNatsServer
from shared.telemetry import DropReason
from tests.support.gateway_app import Gateway, gateway_settings, poll_until, running_gateway


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


@pytest.fixture
def photo(coco_dir: Path) -> Path:
    return sorted(coco_dir.glob("*.jpg"))[0]


async def beat(
    nc: NATS, service: str, instance: str, processed: int = 0, dropped: dict[DropReason, int] | None = None
) -> None:
    hb = Heartbeat(
        service, instance, now_ns(), {"errors": 1}, {"kind": service}, processed=processed, dropped=dropped or {}
    )
    await send(nc, hb)


async def send(nc: NATS, hb: Heartbeat) -> None:
    service, instance = hb.service, hb.instance
    await nc.publish(subjects.heartbeat(service, instance), hb.to_bytes())
    await nc.flush()


async def test_health_is_cheap_and_always_ok(gateway: Gateway):
    response = await gateway.client.get("/stream/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["nats_connected"] is True


async def test_ready_needs_a_detector_heartbeat(gateway: Gateway, nc: NATS):
    response = await gateway.client.get("/stream/ready")
    assert response.status_code == 503
    assert response.json()["error_code"] == "UNAVAILABLE"
    assert any("detector" in r for r in response.json()["reasons"])
    await nc.publish(subjects.heartbeat("detector", "d1"), b"not a heartbeat")
    await beat(nc, "depth", "p1")

    async def ready() -> bool:
        await beat(nc, "detector", "d1", processed=1)
        return (await gateway.client.get("/stream/ready")).status_code == 200

    await poll_until(ready)
    assert gateway.runtime.heartbeats.malformed == 1


async def test_stats_and_metrics_aggregate_heartbeats(gateway: Gateway, nc: NATS):
    await gateway.create_session()
    await beat(nc, "detector", "d1", processed=10, dropped={DropReason.STALE: 2})
    await beat(nc, "detector", "d2", processed=5, dropped={DropReason.STALE: 1, DropReason.INVALID_INPUT: 4})
    await beat(nc, "ingest", "i1", processed=7, dropped={DropReason.INGEST_OVERRUN: 3})

    async def all_seen() -> bool:
        return (await gateway.client.get("/stream/stats")).json()["workers"].get("detector") == 2

    await poll_until(all_seen)
    body = (await gateway.client.get("/stream/stats")).json()
    assert body["sessions"]["active"] == 1
    assert body["frames"]["processed"] == {"detector": 15, "ingest": 7}
    assert body["frames"]["dropped"] == {"detector": {"stale": 3, "invalid_input": 4}, "ingest": {"ingest_overrun": 3}}
    assert set(body["latency_ms"]) >= {"p50", "p95", "p99"}
    assert set(body) == {  # the shape clients (sightwire bench, dashboards) read: unchanged by typing it
        "instance", "uptime_s", "nats_connected", "sessions", "clients", "results", "frames", "uploads",
        "latency_ms", "workers", "hub",
    }  # fmt: skip
    assert body["results"] == {"delivered": 0, "skipped": 0} and body["sessions"]["streaming_here"] == 0
    assert body["clients"] == {"total": 0, "by_transport": {}}
    metrics = (await gateway.client.get("/metrics")).text
    assert 'sightwire_pipeline_frames_dropped_total{reason="stale",service="detector"} 3.0' in metrics
    assert 'sightwire_pipeline_frames_processed_total{service="detector"} 15.0' in metrics
    assert "sightwire_gateway_sessions 1.0" in metrics
    assert "sightwire_gateway_nats_connected 1.0" in metrics


async def test_each_drop_reason_has_one_series_and_one_number(nats_server: EmbeddedNatsServer, nc: NATS, photo: Path):
    """Issue 14: rate-limited uploads showed as two Prometheus counters that disagreed (93 vs 89)."""
    settings = gateway_settings(nats_server.url, upload_rate_per_s=0.01, upload_burst=1)
    async with running_gateway(settings) as gw:
        session = await gw.create_session()
        body = {"image_data": base64.b64encode(photo.read_bytes()).decode()}
        statuses = [(await gw.client.post(session["upload_endpoint"], json=body)).status_code for _ in range(4)]
        assert statuses == [202, 429, 429, 429]
        await beat(nc, "detector", "d1", processed=1, dropped={DropReason.STALE: 2})

        async def seen() -> bool:
            return gw.runtime.heartbeats.processes(60).get("detector") == 1

        await poll_until(seen)
        stats = (await gw.client.get("/stream/stats")).json()
        metrics = (await gw.client.get("/metrics")).text
    assert stats["frames"]["dropped"] == {"detector": {"stale": 2}, "gateway": {"rate_limited": 3}}
    samples = [line for line in metrics.splitlines() if not line.startswith("#")]
    # One series for the gateway's rate-limited uploads (there were two: this one and a process-wide copy)
    assert [line for line in samples if 'reason="rate_limited"' in line] == [
        'sightwire_pipeline_frames_dropped_total{reason="rate_limited",service="gateway"} 3.0'
    ]
    assert sorted(line for line in samples if line.startswith("sightwire_pipeline_frames_dropped")) == [
        'sightwire_pipeline_frames_dropped_total{reason="rate_limited",service="gateway"} 3.0',
        'sightwire_pipeline_frames_dropped_total{reason="stale",service="detector"} 2.0',
    ]


async def test_models_lists_what_live_workers_run_with_their_labels(gateway: Gateway, nc: NATS):
    assert (await gateway.client.get("/stream/models")).json() == {"models": []}
    detector_info = {"kind": "detector", "model": "yolox_nano"}
    for instance in ("d1", "d2"):
        await send(nc, Heartbeat("detector", instance, now_ns(), {}, detector_info, ["person", "stop sign"]))
    await send(nc, Heartbeat("depth", "p1", now_ns(), {}, {"kind": "depth", "model": "pydnet"}))
    await beat(nc, "ingest", "i1", processed=1)  # not a worker: not listed

    async def all_seen() -> bool:
        return len((await gateway.client.get("/stream/models")).json()["models"]) == 2

    await poll_until(all_seen)
    assert (await gateway.client.get("/stream/models")).json()["models"] == [
        {"kind": "depth", "model": "pydnet", "instances": 1, "labels": []},
        {"kind": "detector", "model": "yolox_nano", "instances": 2, "labels": ["person", "stop sign"]},
    ]


async def test_every_route_documents_its_errors(gateway: Gateway):
    spec = (await gateway.client.get("/openapi.json")).json()
    assert (await gateway.client.get("/docs")).status_code == 200
    assert "ErrorBody" in spec["components"]["schemas"]
    required = {
        ("/stream/sessions", "post"): {"401", "422"},
        ("/stream/sessions/{client_id}/stats", "get"): {"401", "403", "404"},
        ("/stream/sessions/{client_id}/config", "patch"): {"401", "403", "404", "422"},
        ("/stream/sessions/{client_id}", "delete"): {"401", "403", "404"},
        ("/stream/process/{client_id}", "post"): {"401", "403", "404", "413", "422", "429"},
        ("/stream/ready", "get"): {"503"},
    }
    for (path, method), statuses in required.items():
        documented = set(spec["paths"][path][method]["responses"])
        assert statuses <= documented, (path, method, documented)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path == "/stream/health":
                continue  # liveness answers 200 whatever happens
            errors = [s for s in op["responses"] if s.startswith(("4", "5"))]
            assert errors, f"{method.upper()} {path} documents no error response"
    assert "HTTPValidationError" not in json.dumps(spec)
    assert set(ErrorBody.model_fields) == {"type", "error", "error_code", "frame_id", "timestamp"}
