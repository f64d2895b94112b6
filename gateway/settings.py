"""Gateway settings: one object, built once by the CLI and passed to `create_app`.

Every limit the public API enforces (upload size, rate, session lifetime) lives
here so that operators tune it with `SIGHTWIRE_*` variables, never by editing
code. Helpers add their fields in their own commented block below.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import CommaList, CommonSettings, IceServerSettings, SourcePolicySettings


class GatewaySettings(CommonSettings, IceServerSettings, SourcePolicySettings):
    """Settings of `sightwire gateway` (env prefix `SIGHTWIRE_`)."""

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8080, ge=0, le=65535, description="0 = pick a free port (tests).")
    public_base_url: str | None = Field(
        None, description="e.g. https://cv.example.com: session endpoints become absolute URLs on it."
    )
    api_key: SecretStr | None = Field(None, description="If set, creating a session needs X-API-Key or Bearer.")
    cors_origins: CommaList = Field(
        default_factory=list, description="Allowed browser origins, comma-separated or a JSON list; '*' for any."
    )
    public_hostnames: CommaList = Field(
        default_factory=list,
        description="Host names this gateway is reached by (besides localhost, IP addresses and public_base_url's); "
        "a page's Origin counts as the gateway's own only on these (DNS rebinding).",
    )

    # sessions (allow_link_local_sources: SourcePolicySettings)
    source_types: CommaList = Field(
        default_factory=lambda: ["upload", "webrtc", "rtsp", "http", "file", "usb"],
        description="Source types clients may request (comma-separated).",
    )
    session_ttl_s: float = Field(300.0, ge=1, le=7 * 86_400, description="Idle sessions expire after this.")
    janitor_interval_s: float = Field(1.0, gt=0, le=600, description="How often expired sessions are looked for.")
    touch_interval_s: float = Field(2.0, ge=0, le=600, description="At most one activity write per session per this.")

    # uploads
    max_upload_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest image; also capped by NATS max_payload."
    )
    max_image_side: int = Field(8192, ge=16, le=32_768, description="Largest accepted width or height in pixels.")
    min_image_side: int = Field(8, ge=1, le=1024, description="Smallest accepted width or height in pixels.")
    upload_rate_per_s: float = Field(30.0, gt=0, le=1000, description="Sustained frames per second per session.")
    upload_burst: int = Field(10, ge=1, le=1000, description="Frames a session may send at once above the rate.")

    # readiness
    ready_heartbeat_max_age_s: float = Field(
        15.0, gt=0, le=3600, description="A detector must have beaten this recently."
    )

    # result streams (shared with the streams helper)
    sse_ping_s: float = Field(15.0, gt=0, le=300, description="SSE keep-alive ping interval.")
    client_buffer: int = Field(8, ge=1, le=1024, description="Messages buffered per client before latest-wins drops.")
    send_timeout_s: float = Field(
        5.0, gt=0, le=120, description="A send to a client slower than this counts as a timeout."
    )
    client_event_buffer: int = Field(
        256, ge=1, le=65_536, description="Events queued per client (never rate-limited); beyond, oldest dropped."
    )

    # streams
    hub_grace_s: float = Field(
        5.0, ge=0, le=600, description="A session's result hub outlives its last viewer by this."
    )
    max_send_timeouts: int = Field(3, ge=1, le=100, description="Consecutive timed-out sends before a client is cut.")
    replay_max_events: int = Field(5000, ge=0, le=1_000_000, description="Most results replayed on a resume.")
    replay_batch: int = Field(256, ge=1, le=10_000, description="Results fetched per request during a resume.")
    sse_retry_ms: int = Field(2000, ge=100, le=600_000, description="Reconnect delay suggested to EventSource.")

    # webrtc/ui
    # webrtc_ice_servers: IceServerSettings
    webrtc_turn_secret: SecretStr | None = Field(
        None, description="TURN REST shared secret (coturn use-auth-secret): mint per-session TURN credentials."
    )
    webrtc_turn_ttl_s: int = Field(3600, ge=60, le=7 * 86_400, description="Lifetime of minted TURN credentials.")
    webrtc_offer_timeout_s: float = Field(15.0, gt=0, le=120, description="Wait this long for ingest to answer.")
    preview_max_clients: int = Field(32, ge=0, le=10_000, description="MJPEG preview streams per gateway process.")

    # limits against floods (gateway/limits.py, gateway/bodies.py)
    max_request_bytes: int = Field(
        256 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body except frame uploads (413)."
    )
    sessions_per_address_per_min: float = Field(
        60.0, gt=0, le=1_000_000, description="Sessions one client address may create per minute (429)."
    )
    sessions_per_api_key_per_min: float = Field(
        600.0, gt=0, le=1_000_000, description="Sessions one API key may create per minute (429)."
    )
    sessions_total_per_min: float = Field(
        1200.0, gt=0, le=1_000_000, description="Sessions this gateway process creates per minute in total (429)."
    )
    limiter_max_clients: int = Field(
        10_000, ge=1, le=10_000_000, description="Client addresses/API keys tracked by the session limiter (LRU)."
    )
