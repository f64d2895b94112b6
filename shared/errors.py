"""Error codes shared by the pipeline and the API.

Workers put these in error results; the gateway puts them in HTTP and
WebSocket error bodies. Narrow exception classes carry their data; they are
turned into HTTP status codes only at the gateway edge.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_IMAGE = "INVALID_IMAGE"
    INVALID_ENVELOPE = "INVALID_ENVELOPE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    INFERENCE_ERROR = "INFERENCE_ERROR"
    SOURCE_UNREACHABLE = "SOURCE_UNREACHABLE"
    SOURCE_LOST = "SOURCE_LOST"
    SOURCE_RESTORED = "SOURCE_RESTORED"  # not a failure: the camera is back after SOURCE_LOST (an event)
    INVALID_SOURCE_URL = "INVALID_SOURCE_URL"
    INVALID_SDP = "INVALID_SDP"
    WEBRTC_UNAVAILABLE = "WEBRTC_UNAVAILABLE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    SESSION_CLOSED = "SESSION_CLOSED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class SightwireError(Exception):
    """Base of the project's errors: always carries a code."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class EnvelopeError(SightwireError):
    """A message body that is not a valid envelope of a known version."""

    code = ErrorCode.INVALID_ENVELOPE


class InvalidSourceURL(SightwireError):
    """A camera URL refused by the allow-list or address policy."""

    code = ErrorCode.INVALID_SOURCE_URL
