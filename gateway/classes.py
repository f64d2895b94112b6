"""A session's `classes` filter may only name classes the running detector can report.

The detector's class names come from its heartbeats (`Heartbeat.labels`, the
same list `GET /stream/models` shows), so a model added with `sightwire models
add` and its own labels (e.g. crack, pothole) changes what is accepted without
any gateway setting. With no live detector there is nothing to check against
and the filter is accepted as given (it is only a filter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import InvalidInput
from shared.sessions import SessionConfig

if TYPE_CHECKING:
    from gateway.runtime import GatewayRuntime

SHOWN = 20  # names quoted in an error


def known_labels(runtime: GatewayRuntime) -> set[str]:
    live = runtime.heartbeats.models(runtime.settings.ready_heartbeat_max_age_s)
    return {label for m in live if m.kind == "detector" for label in m.labels}


def check_classes(runtime: GatewayRuntime, config: SessionConfig) -> None:
    """422 VALIDATION_ERROR when `classes` names a class no live detector reports."""
    if not config.classes:
        return
    known = known_labels(runtime)
    unknown = sorted(set(config.classes) - known) if known else []
    if unknown:
        raise InvalidInput(
            f"unknown classes: {', '.join(unknown[:SHOWN])[:400]}; the running detector knows: "
            f"{', '.join(sorted(known)[:SHOWN])}" + (" ..." if len(known) > SHOWN else ""),
        )
