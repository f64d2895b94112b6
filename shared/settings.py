"""Settings common to every service.

Each service has one pydantic-settings class that subclasses `CommonSettings`,
is built once in `main()` and passed down. Nothing reads `os.environ` deep in
the code. Every variable is prefixed `SIGHTWIRE_`; secrets are `SecretStr` so
that they never reach a log line or an API response by accident.

A setting two services read (the same variable, one meaning) is declared once,
in a small mixin here (`HeartbeatSettings`, `IceServerSettings`,
`SourcePolicySettings`) that each service's class lists among its bases; a list
written `a,b` or as JSON is a `CommaList`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.webrtc import IceServer

ENV = SettingsConfigDict(env_prefix="SIGHTWIRE_", extra="ignore")


def default_instance_id() -> str:
    """Host name plus pid: unique per process, readable in logs and leases."""
    return f"{socket.gethostname()}-{os.getpid()}"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sightwire`, else `~/.cache/sightwire`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sightwire"


def split_list(value: Any, separator: str = ",") -> Any:
    """`a,b` (how env vars are usually written) as well as a JSON list; other values unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [v.strip() for v in text.split(separator) if v.strip()]


CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_list)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]  # a positive duration of at most a day


class NatsSettings(BaseSettings):
    """How to reach NATS, and the JetStream shapes this deployment provisions."""

    model_config = ENV

    nats_url: str = Field("nats://127.0.0.1:4222", description="Comma-separated NATS server URLs.")
    nats_user: str | None = Field(None, description="NATS user (with SIGHTWIRE_NATS_PASSWORD).")
    nats_password: SecretStr | None = Field(None, description="NATS password (secret).")
    nats_token: SecretStr | None = Field(None, description="NATS token auth (secret).")
    nats_creds_file: Path | None = Field(None, description="NATS .creds file (JWT + NKEY seed).")
    nats_nkey_seed_file: Path | None = Field(None, description="NKEY seed file.")
    nats_tls_ca: Path | None = Field(None, description="CA bundle to verify the NATS servers (enables TLS).")
    nats_tls_cert: Path | None = Field(None, description="Client certificate for mutual TLS.")
    nats_tls_key: Path | None = Field(None, description="Client key for mutual TLS.")
    nats_connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one connection attempt.")
    nats_reconnect_min_wait_s: float = Field(
        0.1, gt=0, le=60, description="First reconnect delay after NATS goes away (doubles per failed attempt)."
    )
    nats_reconnect_max_wait_s: float = Field(2.0, gt=0, le=300, description="Longest delay between reconnects.")

    stream_replicas: int = Field(1, ge=1, le=5, description="Replicas of streams and KV buckets (3 in prod).")
    frames_max_age_s: float = Field(
        30.0, gt=0, le=3600, description="FRAMES retention: live frames are worthless after this."
    )
    frames_max_msgs_per_subject: int = Field(
        2, ge=1, le=10_000, description="Frames kept per session; older ones are discarded."
    )
    frames_max_bytes: int = Field(512 * 1024 * 1024, ge=1024 * 1024, description="FRAMES size cap (discard old).")
    results_max_age_s: float = Field(
        60.0, gt=0, le=86_400, description="RESULTS retention: the window for SSE resume with Last-Event-ID."
    )
    results_max_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024, description="RESULTS size cap (discard old).")
    scene_max_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024, description="SCENE size cap (discard old).")
    events_max_age_s: float = Field(
        7 * 86_400.0, gt=0, le=366 * 86_400, description="EVENTS retention: replay over REST and snapshot TTL."
    )
    events_max_bytes: int = Field(1024 * 1024 * 1024, ge=1024 * 1024, description="EVENTS size cap (discard old).")
    sessions_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024 * 1024, description="sw-sessions bucket size cap: creations fail (503) when full."
    )
    sessions_max_value_bytes: int = Field(
        256 * 1024, ge=4096, le=8 * 1024 * 1024, description="Largest session record in sw-sessions."
    )
    leases_max_bytes: int = Field(16 * 1024 * 1024, ge=1024 * 1024, description="sw-leases bucket size cap.")
    lease_ttl_s: float = Field(10.0, ge=1, le=600, description="Expiry of an ingest lease in sw-leases.")
    consumer_ack_wait_s: float = Field(
        10.0, ge=1, le=600, description="Unacked frames are redelivered to another worker after this."
    )
    consumer_max_deliver: int = Field(5, ge=2, le=100, description="Deliveries of one frame before it is given up.")
    consumer_max_ack_pending: int = Field(
        64, ge=1, le=100_000, description="Frames in flight per worker type, across replicas."
    )


class CommonSettings(NatsSettings):
    """The base every service's settings class extends."""

    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$", description="Log level.")
    log_json: bool = Field(True, description="One JSON object per log line (false: plain text).")
    instance_id: str = Field(
        default_factory=default_instance_id, description="Name of this process in leases and heartbeats (host-pid)."
    )
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus port for ingest/workers; 0 = off.")
    drain_timeout_s: float = Field(5.0, gt=0, le=120, description="Bound on draining NATS at shutdown.")
    allow_unresolved_hosts: bool = Field(
        False, description="Accept camera/webhook URLs whose host does not resolve now (refused by default)."
    )
    max_image_pixels: int = Field(
        40_000_000, ge=1, le=1_000_000_000, description="Largest image (width x height) gateway and workers decode."
    )
    loop_watchdog_s: float = Field(
        60.0, ge=0, le=3600, description="A process whose event loop is stuck this long dumps its stacks and exits 1."
    )


class HeartbeatSettings(BaseSettings):
    """Processes that publish a heartbeat (ingest, detector, depth, scene)."""

    model_config = ENV

    heartbeat_interval_s: float = Field(
        2.0, gt=0, le=60, description="Seconds between heartbeats on sw.heartbeat.<service>.<instance>."
    )


class IceServerSettings(BaseSettings):
    """The gateway (for browsers) and ingest (for its peers) read the same STUN/TURN list."""

    model_config = ENV

    webrtc_ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN for browsers and ingest (same variable), JSON list of RTCIceServer: "
        '[{"urls": ["stun:stun.example.org:3478"]}, {"urls": ["turn:turn.example.org"], "username": "u", '
        '"credential": "p"}]. Empty: host candidates only (same network).',
    )


class SourcePolicySettings(BaseSettings):
    """The gateway (at session creation) and ingest (at open) apply the same camera-URL rules."""

    model_config = ENV

    allow_link_local_sources: bool = Field(False, description="Allow camera URLs on link-local/metadata hosts.")


class UpSettings(CommonSettings):
    """`sightwire up`: the whole stack on one machine."""

    host: str = Field("127.0.0.1", description="Address the gateway of `sightwire up` listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port of the gateway of `sightwire up`.")
    nats_store_dir: Path | None = Field(None, description="Embedded nats-server store; default user cache.")
    mqtt_port: int | None = Field(
        None, ge=1, le=65535, description="Embedded nats-server's MQTT listener (events as sw/events/<sid>/<kind>)."
    )

    @property
    def external_nats(self) -> bool:
        """True when SIGHTWIRE_NATS_URL was given: then no server is started."""
        return "nats_url" in self.model_fields_set
