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

    def __init__(self, message: str, code: ErrorCode | None = None, *, frame_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.frame_id = frame_id
        if code is not None:
            self.code = code


class EnvelopeError(SightwireError):
    """A message body that is not a valid envelope of a known version."""

    code = ErrorCode.INVALID_ENVELOPE


class InvalidSourceURL(SightwireError):
    """A camera URL refused by the allow-list or address policy."""

    code = ErrorCode.INVALID_SOURCE_URL


class InvalidInput(SightwireError):
    """A request body, parameter or message field out of bounds (HTTP 422)."""

    code = ErrorCode.VALIDATION_ERROR


class MalformedRequest(SightwireError):
    """A request that cannot be read at all: not JSON, wrong framing (HTTP 400)."""

    code = ErrorCode.VALIDATION_ERROR


class Conflict(SightwireError):
    """A request at odds with the session's state, e.g. an upload to a camera session (HTTP 409)."""

    code = ErrorCode.VALIDATION_ERROR


class InvalidImage(SightwireError):
    """Bytes that are not a decodable image within the pixel limit."""

    code = ErrorCode.INVALID_IMAGE


class InvalidSdp(SightwireError):
    """A WebRTC offer that is not usable SDP."""

    code = ErrorCode.INVALID_SDP


class Unauthorized(SightwireError):
    """Missing or wrong credentials (session token or API key)."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(SightwireError):
    """Credentials that do not open this resource, or a refused Origin."""

    code = ErrorCode.FORBIDDEN


class NotFound(SightwireError):
    """No such session, event, snapshot or route."""

    code = ErrorCode.NOT_FOUND


class SessionClosed(SightwireError):
    """The session existed but was closed."""

    code = ErrorCode.SESSION_CLOSED


class PayloadTooLarge(SightwireError):
    """A body or message over its byte cap, refused before it was read whole."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class RateLimited(SightwireError):
    """Too many requests or sessions; `retry_after_s` says when to come back (None: no estimate)."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_s: float | None = 1.0, *, frame_id: str | None = None) -> None:
        super().__init__(message, frame_id=frame_id)
        self.retry_after_s = retry_after_s


class Unavailable(SightwireError):
    """A dependency (the broker, a worker tier) is unreachable or starting; retry later."""

    code = ErrorCode.UNAVAILABLE

    def __init__(
        self,
        message: str,
        retry_after_s: float | None = 2.0,
        code: ErrorCode | None = None,
        *,
        frame_id: str | None = None,
    ) -> None:
        super().__init__(message, code, frame_id=frame_id)
        self.retry_after_s = retry_after_s


class WebRTCUnavailable(Unavailable):
    """No ingest instance can take a WebRTC peer now.

    No `retry_after_s` by default: ingest gives no estimate, and the page's own
    backoff is what retries (that retry is the failover to a new camera owner).
    """

    code = ErrorCode.WEBRTC_UNAVAILABLE

    def __init__(self, message: str, retry_after_s: float | None = None, code: ErrorCode | None = None) -> None:
        super().__init__(message, retry_after_s, code)


class WebRTCTimeout(WebRTCUnavailable):
    """The ingest tier did not answer an SDP offer in time (HTTP 504)."""
