"""Ingest's coded refusals of an SDP offer become the narrow errors, and so their HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.errors import http_status
from gateway.webrtc.routes import VIEWER_REFUSALS, WEBCAM_REFUSALS, Refusal, refusal_error
from shared.errors import ErrorCode
from shared.webrtc import WebRtcAnswer


@pytest.mark.parametrize(
    ("refusals", "code", "status"),
    [
        (WEBCAM_REFUSALS, "INVALID_SDP", 400),
        (WEBCAM_REFUSALS, "NOT_FOUND", 404),
        (WEBCAM_REFUSALS, "SESSION_CLOSED", 404),
        (WEBCAM_REFUSALS, "RATE_LIMITED", 503),  # a webcam peer has no per-session limit of its own
        (WEBCAM_REFUSALS, "WEBRTC_UNAVAILABLE", 503),
        (WEBCAM_REFUSALS, "INTERNAL_ERROR", 503),
        (VIEWER_REFUSALS, "RATE_LIMITED", 429),
        (VIEWER_REFUSALS, "SESSION_CLOSED", 404),
    ],
)
def test_a_refusal_keeps_ingests_code_and_message(
    refusals: Mapping[ErrorCode, Refusal], code: str, status: int
) -> None:
    error = refusal_error(WebRtcAnswer(ok=False, code=code, message="why"), "video", refusals)
    assert (error.code, error.message, http_status(error)) == (code, "why", status)
    assert getattr(error, "retry_after_s", None) is None  # ingest gives no estimate: no Retry-After


def test_an_unknown_or_missing_code_is_webrtc_unavailable() -> None:
    for code in ("NO_SUCH_CODE", None):
        error = refusal_error(WebRtcAnswer(ok=False, code=code), "WebRTC", WEBCAM_REFUSALS)
        assert (error.code, error.message, http_status(error)) == (ErrorCode.WEBRTC_UNAVAILABLE, "WebRTC refused", 503)
