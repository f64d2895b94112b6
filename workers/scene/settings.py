"""Settings of the scene stage (`sightwire worker scene`, env prefix `SIGHTWIRE_`).

Built once in `shared.cli` and passed down. The scene stage owns every piece of per-session state
that depends on frame order (DESIGN §7), so its knobs are about order (the reorder window), about
ownership (lease TTL, checkpoint interval) and about the tracker and distance fusion it runs.
"""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, HeartbeatSettings


class SceneSettings(CommonSettings, HeartbeatSettings):
    """Ownership, ordering, checkpointing, tracking and fusion of the scene stage."""

    scene_reorder_window: int = Field(
        8,
        ge=0,
        le=256,
        description="Detections held to put competing detectors' results back in seq order; 0 = no reordering.",
    )
    scene_reorder_wait_ms: int = Field(
        200,
        ge=0,
        le=10_000,
        description="Longest a detection waits for a missing earlier seq before it is applied anyway.",
    )
    scene_reorder_min_wait_ms: int = Field(
        20,
        ge=0,
        le=10_000,
        description="Shortest such wait: the learnt wait when gaps are dropped frames, not reordering.",
    )
    scene_lease_ttl_s: float = Field(
        10.0, ge=1, le=600, description="Expiry of a scene ownership lease (sw-scene-leases): the failover time."
    )
    scene_claim_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often an instance tries to claim sessions nobody owns."
    )
    scene_checkpoint_interval_s: float = Field(
        1.0, gt=0, le=60, description="Longest time between two checkpoints of a changed session (sw-scene)."
    )
    scene_checkpoint_max_bytes: int = Field(
        1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024, description="Largest checkpoint of one session."
    )
    scene_checkpoint_bucket_bytes: int = Field(
        256 * 1024 * 1024, ge=1024 * 1024, description="Size cap of the sw-scene checkpoint bucket."
    )
    scene_max_sessions: int = Field(
        1000, ge=1, le=100_000, description="Most sessions one scene instance owns, whatever the fair share."
    )
    scene_peer_timeout_s: float = Field(
        6.0, gt=0, le=600, description="A scene instance without a heartbeat this long no longer counts for the share."
    )
    publish_timeout_s: float = Field(5.0, gt=0, le=60, description="Wait for one PubAck of SCENE or EVENTS.")
    scene_drop_summary_s: float = Field(
        5.0, ge=0, le=3600, description="Seconds between a session's `drops` messages to viewers (0: none)."
    )
    track_lost_s: float = Field(
        2.0, gt=0, le=60, description="How long a track survives without a matching detection (ByteTrack buffer)."
    )
    track_min_iou: float = Field(
        0.3, gt=0, le=1, description="Least IoU for a detection to continue a track (0.3: benchmarks/tracking.py)."
    )
    depth_max_age_ms: int = Field(
        1000, ge=0, le=60_000, description="A depth map further than this from a detection's capture time is not used."
    )
    scale_ema_alpha: float = Field(
        0.3, gt=0, le=1, description="Smoothing of the per-session depth-to-metres scale (higher = faster)."
    )
    scale_max_age_s: float = Field(
        30.0, gt=0, le=3600, description="A depth scale not refreshed for this long is forgotten."
    )
