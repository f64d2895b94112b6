"""Request and response bodies of the session API.

The seed clients send config fields flat (`{"fps_limit": 15,
"confidence_threshold": 0.6}`); DESIGN.md also allows a nested `config`.
Both are accepted, flat fields win. The config fields are derived from
`shared.sessions.SessionConfig` (each bound is written there, once), so an
out-of-range value is a 422 from validation, never a 500 later; unknown keys
are refused so a typo is not silently ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from shared.sessions import SessionConfig, SourceSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _optional(info: FieldInfo) -> tuple[Any, Any]:
    """A config field as a request field: same type and bounds, default None (= not sent)."""
    bounded: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return bounded | None, Field(None, description=info.description)


if TYPE_CHECKING:
    _OptionalConfig = Strict
else:
    _OptionalConfig = create_model(
        "OptionalConfig",
        __base__=Strict,
        **{name: _optional(info) for name, info in SessionConfig.model_fields.items()},
    )


class ConfigFields(_OptionalConfig):
    """Optional session config fields: every `SessionConfig` field, bounded as there, default None."""

    def flat_changes(self, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        """The fields the client actually sent (an explicit null included)."""
        return self.model_dump(exclude_unset=True, exclude=set(exclude))


class ConfigUpdate(ConfigFields):
    """PATCH body: flat fields, or the seed's `{"type": "config_update", "config": {...}}`."""

    type: Literal["config_update"] | None = None
    config: ConfigFields | None = None

    def changes(self) -> dict[str, Any]:
        nested = self.config.flat_changes() if self.config else {}
        return {**nested, **self.flat_changes({"type", "config"})}


class SessionCreate(ConfigFields):
    """POST /stream/sessions body; every field optional (an upload session with defaults)."""

    config: ConfigFields | None = None
    source: SourceSpec | None = Field(None, description='Default {"type": "upload"}.')

    def changes(self) -> dict[str, Any]:
        nested = self.config.flat_changes() if self.config else {}
        return {**nested, **self.flat_changes({"config", "source"})}


class SessionCreated(BaseModel):
    client_id: str
    token: str = Field(description="Shown once; only its hash is stored.")
    sse_endpoint: str
    ws_endpoint: str
    upload_endpoint: str
    webrtc_endpoint: str
    stats_endpoint: str
    config: SessionConfig
    source: SourceSpec = Field(description="As stored, with URL credentials redacted.")
    expires_after_idle_s: float


class SessionConfigOut(BaseModel):
    client_id: str
    config: SessionConfig


class SessionStats(BaseModel):
    client_id: str
    status: str
    error_code: str | None
    error_message: str | None
    source: SourceSpec
    config: SessionConfig
    created_at: float
    last_active_at: float
    expires_at: float
    uploads: dict[str, int]
    streams: dict[str, Any] = Field(description="Result delivery on this gateway replica.")
    webhooks_failed: int = Field(0, description="Events whose webhook delivery failed for good.")


class UploadFrame(Strict):
    """The seed's frame body (`type` and `metadata` are accepted for WebSocket parity)."""

    image_data: str = Field(description="Base64 JPEG or PNG, optionally as a data: URL.")
    frame_id: str | int | float | None = Field(None, description="Echoed in the results.")
    timestamp: float | None = Field(None, description="Capture time, seconds since the epoch.")
    type: Literal["frame"] | None = None
    metadata: dict[str, Any] | None = None


class UploadAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    frame_id: str | None
    seq: int
