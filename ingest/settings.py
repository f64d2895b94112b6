"""Settings of `sightwire ingest` (env prefix `SIGHTWIRE_`), built once by the CLI and passed down.

Every knob of the camera path lives here so that operators tune reconnects,
timeouts and the source policy with environment variables, never in code.
Defaults are safe for a shared deployment: no link-local/metadata hosts, no
USB devices, and local files only from one media folder under the user's cache
(`~/.cache/sightwire/media`): a demo drops a clip there and creates a session
with `{"type": "file", "url": "clip.mp4", "loop": true}`; nothing else on the
disk is reachable through the API.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.settings import (
    CommaList,
    CommonSettings,
    HeartbeatSettings,
    IceServerSettings,
    SourcePolicySettings,
    split_list,
    user_cache_dir,
)
from shared.urls import SourcePolicy


def default_media_roots() -> list[Path]:
    return [user_cache_dir() / "media"]


class IngestSettings(CommonSettings, HeartbeatSettings, IceServerSettings, SourcePolicySettings):
    """Settings of one ingest instance."""

    # frames
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of published frames.")
    max_frame_side: int = Field(1920, ge=64, le=8192, description="Larger camera frames are downscaled to this.")
    publish_timeout_s: float = Field(2.0, gt=0, le=60, description="Wait this long for JetStream to ack a frame.")

    # leases (sw-leases bucket; its TTL is lease_ttl_s from NatsSettings)
    lease_refresh_s: float | None = Field(
        None, gt=0, le=200, description="Refresh owned leases this often; default lease_ttl_s/4, must be < ttl/3."
    )
    claim_interval_s: float = Field(1.0, gt=0, le=60, description="Retry claiming unowned camera sessions this often.")
    claim_stagger_s: float = Field(
        0.1, ge=0, le=5, description="Per already-owned session, wait this long before claiming a new one (balance)."
    )

    # reconnects and failure
    reconnect_initial_s: float = Field(
        0.5, gt=0, le=60, description="First reconnect delay; doubles up to reconnect_max_s."
    )
    reconnect_max_s: float = Field(10.0, gt=0, le=600, description="Longest delay between reconnect attempts.")
    failure_limit: int = Field(10, ge=1, le=1000, description="This many failures within failure_window_s ...")
    failure_window_s: float = Field(60.0, gt=0, le=86_400, description="... mark the session failed.")
    open_timeout_s: float = Field(10.0, gt=0, le=300, description="Opening a camera gives up after this.")
    read_timeout_s: float = Field(10.0, gt=0, le=300, description="A camera silent this long counts as lost.")
    stop_timeout_s: float = Field(3.0, gt=0, le=60, description="Wait this long for a capture thread to finish.")

    # source policy (the gateway applies the same rules at session creation; allow_link_local_sources:
    # SourcePolicySettings)
    file_source_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=default_media_roots,
        description="Directories `file` sources may be read from (JSON list or os.pathsep-separated); [] = none.",
    )
    usb_sources_allowed: bool = Field(False, description="Allow `usb` sources (this host's /dev/videoN).")
    ffmpeg_analyze_s: float = Field(
        1.0, gt=0, le=30, description="How long FFmpeg probes a new stream before the first frame (its default: 5)."
    )
    ffmpeg_log_level: int = Field(
        -8, ge=-8, le=56, description="FFmpeg's own log level (-8 quiet). Its messages are not redacted: debug only."
    )

    # webrtc (ingest.webrtc; webrtc_ice_servers: IceServerSettings)
    webrtc_host_addresses: CommaList = Field(
        default_factory=list, description="Offer ICE host candidates only on these IPs (e.g. 127.0.0.1); [] = all."
    )
    webrtc_max_peers: int = Field(16, ge=0, le=1000, description="Browser peer connections per ingest instance.")
    webrtc_jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of frames from browser cameras.")
    webrtc_max_side: int = Field(1280, ge=64, le=8192, description="Browser frames larger than this are downscaled.")
    webrtc_connect_timeout_s: float = Field(
        15.0, gt=0, le=300, description="A peer connection not connected by then is closed."
    )
    webrtc_disconnect_grace_s: float = Field(
        5.0, ge=0, le=300, description="How long a disconnected peer may recover before it is closed."
    )
    webrtc_media_timeout_s: float = Field(
        10.0, gt=0, le=300, description="A peer whose video stops this long after its first frame is closed."
    )

    # camera video to viewers (ingest.video)
    video_max_viewers_per_session: int = Field(
        8, ge=0, le=100, description="WebRTC viewers of one camera session's video on its owner."
    )
    video_max_viewers: int = Field(32, ge=0, le=1000, description="WebRTC video viewers per ingest instance.")
    video_bitrate_kbps: int = Field(
        1500, ge=100, le=20_000, description="H.264 bitrate of a camera's video to viewers."
    )
    video_keyframe_interval_s: float = Field(
        2.0, gt=0, le=30, description="Seconds between H.264 key frames (new viewers also get one at once)."
    )

    @field_validator("file_source_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        """Accept a JSON list or `a:b` (os.pathsep), the way PATH-like variables are written."""
        return split_list(value, os.pathsep)

    @model_validator(mode="after")
    def _check_timing(self) -> IngestSettings:
        if self.lease_refresh_s is not None and self.lease_refresh_s >= self.lease_ttl_s / 3:
            raise ValueError("lease_refresh_s must be below lease_ttl_s / 3 so that a lease survives a lost refresh")
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("reconnect_initial_s must not exceed reconnect_max_s")
        return self

    def refresh_interval(self, ttl_s: float) -> float:
        """How often to refresh a lease in a bucket whose TTL is `ttl_s` (the bucket's, not ours, wins)."""
        wanted = self.lease_refresh_s if self.lease_refresh_s is not None else self.lease_ttl_s / 4
        return min(wanted, ttl_s / 4)

    def source_policy(self) -> SourcePolicy:
        return SourcePolicy(
            allow_link_local=self.allow_link_local_sources,
            file_roots=tuple(self.file_source_roots),
            usb_allowed=self.usb_sources_allowed,
            allow_unresolved=self.allow_unresolved_hosts,
        )
