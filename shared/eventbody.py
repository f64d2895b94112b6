"""The body of an EVENTS message, read in one place.

The scene stage publishes each event (DESIGN §8) on `sw.events.<sid>.<kind>`
as the UTF-8 JSON `{"type": "event", "event": {...}}`. The gateway (replay,
counts) and the notifier (webhooks) read it back; a body of any other shape is
skipped by each of them alike, so the reading lives here.
"""

from __future__ import annotations

import json
from typing import Any


def event_of(data: bytes) -> dict[str, Any] | None:
    """The event object of an EVENTS message body, or None if the body is not one."""
    try:
        body = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    event = body.get("event") if isinstance(body, dict) else None
    return event if isinstance(event, dict) else None
