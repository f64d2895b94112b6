"""Settings of `sightwire worker notifier` (built once in `main()`, passed down)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import CommonSettings, Seconds


class NotifierSettings(CommonSettings):
    """Webhook delivery (durable `notifier` on EVENTS) and event snapshots (durable `snapshots`)."""

    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="Bound on one webhook POST (connect to status).")
    webhook_backoff_s: list[Seconds] = Field(
        default_factory=lambda: [2.0, 10.0, 60.0, 300.0, 900.0],
        min_length=1,
        max_length=20,
        description="JetStream consumer backoff between webhook attempts (JSON list of seconds).",
    )
    webhook_max_deliver: int = Field(
        6, ge=1, le=100, description="Attempts of one event before it is recorded as failed."
    )
    webhook_session_concurrency: int = Field(
        2, ge=1, le=64, description="Webhook POSTs in flight per session (a dead receiver holds only these)."
    )
    webhook_session_queue: int = Field(
        16, ge=1, le=10_000, description="Events of one session waiting here; more are retried later."
    )
    webhook_max_ack_pending: int = Field(
        512, ge=1, le=100_000, description="Events in flight in the notifier group, across replicas."
    )
    webhook_max_event_age_s: float = Field(
        3600.0, gt=0, le=366 * 86_400, description="Older events are not sent (counted as expired)."
    )
    allow_link_local_webhooks: bool = Field(False, description="Allow webhook URLs on link-local/metadata hosts.")
    snapshot_max_bytes: int = Field(
        1024 * 1024 * 1024, ge=1024 * 1024, description="Size cap of the sw-snapshots Object Store bucket."
    )
    snapshot_concurrency: int = Field(4, ge=1, le=256, description="Snapshots stored at once.")
    closed_session_grace_s: float = Field(
        600.0, ge=0, le=86_400, description="Webhooks of a deleted session still get its last events this long."
    )

    @model_validator(mode="after")
    def _backoff_fits(self) -> NotifierSettings:
        if len(self.webhook_backoff_s) >= self.webhook_max_deliver:  # JetStream's own rule
            raise ValueError("webhook_backoff_s must have fewer values than webhook_max_deliver")
        return self
