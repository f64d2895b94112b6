"""Bad input table: each case gets its status and error code, and the service keeps answering."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import Gateway, auth, gateway_settings, running_gateway

MAX_UPLOAD = 256 * 1024


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url, max_upload_bytes=MAX_UPLOAD)) as gw:
        yield gw


def small_jpeg(coco_dir: Path) -> bytes:
    return min((p.read_bytes() for p in coco_dir.glob("*.jpg")), key=len)


def with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF header claiming another size (header-only check must refuse it)."""
    pos = 2
    while jpeg[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return jpeg[: pos + 5] + struct.pack(">HH", height, width) + jpeg[pos + 9 :]


def upload_cases(jpeg: bytes) -> list[tuple[str, dict[str, Any], int, str]]:
    """(name, request kwargs, status, error_code)."""
    b64 = base64.b64encode(jpeg).decode()
    return [
        ("bad base64", {"json": {"image_data": "%%%not-base64%%%"}}, 422, "INVALID_IMAGE"),
        ("text, not an image", {"json": {"image_data": base64.b64encode(b"hello").decode()}}, 422, "INVALID_IMAGE"),
        (
            "truncated jpeg",
            {"json": {"image_data": base64.b64encode(jpeg[: len(jpeg) // 2]).decode()}},
            422,
            "INVALID_IMAGE",
        ),
        (
            "absurd dimensions",
            {"content": with_size(jpeg, 60000, 60000), "headers": {"Content-Type": "image/jpeg"}},
            422,
            "INVALID_IMAGE",
        ),
        (
            "zero dimensions",
            {"content": with_size(jpeg, 0, 0), "headers": {"Content-Type": "image/jpeg"}},
            422,
            "INVALID_IMAGE",
        ),
        (
            "oversized raw body",
            {"content": jpeg + b"\0" * MAX_UPLOAD, "headers": {"Content-Type": "image/jpeg"}},
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        ("oversized base64", {"json": {"image_data": "QUFB" * MAX_UPLOAD}}, 413, "PAYLOAD_TOO_LARGE"),
        (
            "non-JSON body",
            {"content": b"hello there", "headers": {"Content-Type": "text/plain"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            "malformed JSON",
            {"content": b'{"image_data": ', "headers": {"Content-Type": "application/json"}},
            422,
            "VALIDATION_ERROR",
        ),
        ("JSON array", {"json": [1, 2]}, 422, "VALIDATION_ERROR"),
        ("missing image_data", {"json": {"frame_id": "x"}}, 422, "VALIDATION_ERROR"),
        ("unknown field", {"json": {"image_data": b64, "bogus": 1}}, 422, "VALIDATION_ERROR"),
        ("frame_id too long", {"json": {"image_data": b64, "frame_id": "x" * 500}}, 422, "VALIDATION_ERROR"),
        ("timestamp not a number", {"json": {"image_data": b64, "timestamp": "soon"}}, 422, "VALIDATION_ERROR"),
    ]


async def test_upload_bad_input_table(gateway: Gateway, coco_dir: Path):
    jpeg = small_jpeg(coco_dir)
    session = await gateway.create_session()
    for name, kwargs, status, code in upload_cases(jpeg):
        response = await gateway.client.post(session["upload_endpoint"], **kwargs)
        assert (response.status_code, response.json().get("error_code")) == (status, code), name
        assert set(response.json()) == {"type", "error", "error_code", "frame_id", "timestamp"}, name
    good = await gateway.client.post(session["upload_endpoint"], json={"image_data": base64.b64encode(jpeg).decode()})
    assert good.status_code == 202
    assert (await gateway.client.get("/stream/health")).status_code == 200


CREATE_CASES: list[dict[str, Any]] = [
    {"fps_limit": 0},
    {"fps_limit": 31},
    {"fps_limit": "fast"},
    {"confidence_threshold": 2},
    {"source": {"type": "carrier-pigeon"}},
    {"source": {"type": "rtsp", "url": "rtsp://x/" + "a" * 3000}},
    {"nonsense": True},
]


async def test_session_creation_bounds(gateway: Gateway):
    for body in CREATE_CASES:
        response = await gateway.client.post("/stream/sessions", json=body)
        assert (response.status_code, response.json()["error_code"]) == (422, "VALIDATION_ERROR"), body


async def test_malformed_json_on_create_and_patch(gateway: Gateway):
    headers = {"Content-Type": "application/json"}
    created = await gateway.client.post("/stream/sessions", content=b"{fps_limit: 3", headers=headers)
    assert (created.status_code, created.json()["error_code"]) == (422, "VALIDATION_ERROR")
    session = await gateway.create_session()
    patched = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config", content=b"[", headers={**headers, **auth(session["token"])}
    )
    assert (patched.status_code, patched.json()["error_code"]) == (422, "VALIDATION_ERROR")


SESSION_ROUTES = [
    ("GET", "/stream/sessions/{sid}/stats"),
    ("PATCH", "/stream/sessions/{sid}/config"),
    ("DELETE", "/stream/sessions/{sid}"),
    ("POST", "/stream/process/{sid}"),
]


async def test_unknown_sessions_are_404(gateway: Gateway):
    for method, path in SESSION_ROUTES:
        for sid in ("AAAAAAAAAAAAAAAAAAAAAA", "has.dots", "x" * 300):
            response = await gateway.client.request(method, path.format(sid=sid), headers=auth("whatever"), json={})
            assert (response.status_code, response.json()["error_code"]) == (404, "NOT_FOUND"), (method, sid)


async def test_unknown_route_and_method(gateway: Gateway):
    missing = await gateway.client.get("/stream/nothing-here")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "NOT_FOUND")
    wrong_method = await gateway.client.put("/stream/sessions")
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "error"
