"""The edge's one table from narrow errors to HTTP statuses, through a real FastAPI app."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.errors import http_status, install_error_handlers
from shared import errors as sw


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (sw.InvalidInput("bad"), 422),
        (sw.MalformedRequest("not json"), 400),
        (sw.Conflict("camera session"), 409),
        (sw.InvalidImage("not an image"), 422),
        (sw.InvalidSourceURL("refused"), 422),
        (sw.NotFound("no such session"), 404),
        (sw.SessionClosed("closed"), 404),
        (sw.PayloadTooLarge("too big"), 413),
        (sw.RateLimited("slow down", retry_after_s=3), 429),
        (sw.Unavailable("broker"), 503),
        (sw.WebRTCUnavailable("no ingest"), 503),
        (sw.WebRTCTimeout("no answer"), 504),
        (sw.EnvelopeError("worker-side"), 500),
    ],
)
def test_status_follows_the_class(exc: sw.SightwireError, status: int) -> None:
    assert http_status(exc) == status


def test_handler_answers_the_error_shape_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/limited")
    async def limited() -> None:
        raise sw.RateLimited("too many sessions", retry_after_s=7.4)

    @app.get("/image")
    async def image() -> None:
        raise sw.InvalidImage("cannot decode", frame_id="f-1")

    client = TestClient(app)
    limited_resp = client.get("/limited")
    assert limited_resp.status_code == 429
    assert limited_resp.headers["Retry-After"] == "7"
    assert limited_resp.json()["error_code"] == "RATE_LIMITED"
    image_resp = client.get("/image")
    assert image_resp.status_code == 422
    assert image_resp.json()["frame_id"] == "f-1"
    assert image_resp.json()["error"] == "cannot decode"
    assert "Retry-After" not in image_resp.headers


def test_retry_after_only_when_the_error_carries_an_estimate() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/starting")
    async def starting() -> None:
        raise sw.Unavailable("gateway is starting", retry_after_s=None)

    @app.get("/broker")
    async def broker() -> None:
        raise sw.Unavailable("broker")

    @app.get("/webrtc")
    async def webrtc() -> None:
        raise sw.WebRTCTimeout("no answer")

    client = TestClient(app)
    starting_resp, broker_resp, webrtc_resp = client.get("/starting"), client.get("/broker"), client.get("/webrtc")
    assert (starting_resp.status_code, starting_resp.json()["error_code"]) == (503, "UNAVAILABLE")
    assert "Retry-After" not in starting_resp.headers
    assert broker_resp.headers["Retry-After"] == "2"
    assert (webrtc_resp.status_code, webrtc_resp.json()["error_code"]) == (504, "WEBRTC_UNAVAILABLE")
    assert "Retry-After" not in webrtc_resp.headers
