"""WebRTC signalling between the gateway and ingest, and the ICE server setting.

The gateway authorizes a browser's SDP offer and relays it on
`sw.ingest.webrtc` (request/reply, queue group) to exactly one ingest instance,
which answers and then owns that peer connection. Both sides import the two
envelopes below, so the request and the reply are defined once. `IceServer`
is the operator's STUN/TURN list, read by both services from the same
`SIGHTWIRE_WEBRTC_ICE_SERVERS` variable (a JSON list in the browser's
`RTCIceServer` shape) so the page and ingest always agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.envelopes import Envelope

MAX_SDP_BYTES = 64 * 1024  # a real offer with a few m-lines is 3-10 kB


@dataclass(slots=True)
class WebRtcOffer(Envelope):
    """Gateway -> ingest: the browser's offer for session `sid` (already authorized)."""

    KIND: ClassVar[str] = "webrtc_offer"
    sid: str
    sdp: str
    type: str = "offer"


@dataclass(slots=True)
class WebRtcAnswer(Envelope):
    """Ingest -> gateway: the answer, or why there is none (`code` is a `shared.errors.ErrorCode`)."""

    KIND: ClassVar[str] = "webrtc_answer"
    ok: bool
    sdp: str = ""
    type: str = "answer"
    code: str | None = None
    message: str | None = None
    instance: str = ""


class IceServer(BaseModel):
    """One STUN or TURN server, as `RTCIceServer` (browser) and `aiortc.RTCIceServer` take it."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=8)
    username: str | None = Field(None, max_length=256)
    credential: SecretStr | None = None

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        """`"urls": "stun:host"` is valid in the browser API; accept it here too."""
        return [value] if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _schemes(cls, value: list[str]) -> list[str]:
        for url in value:
            if url.split(":", 1)[0].lower() not in ("stun", "stuns", "turn", "turns"):
                raise ValueError(f"ICE server URL must start with stun:, stuns:, turn: or turns: ({url[:40]!r})")
        return value

    @property
    def is_turn(self) -> bool:
        return any(u.lower().startswith("turn") for u in self.urls)

    def public(self, with_credentials: bool) -> dict[str, Any]:
        """The browser's `RTCIceServer` dict; credentials only when asked (the session holder)."""
        body: dict[str, Any] = {"urls": list(self.urls)}
        if with_credentials and self.username is not None:
            body["username"] = self.username
        if with_credentials and self.credential is not None:
            body["credential"] = self.credential.get_secret_value()
        return body
