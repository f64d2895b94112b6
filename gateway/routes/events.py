"""Event routes (DESIGN §4, §8): replay a session's events, its latest counts, an event's snapshot.

Authorised like every session route (the session token). The gateway holds no event state: all
three read EVENTS or the `sw-snapshots` bucket (gateway/eventlog.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from nats.js import JetStreamContext
from pydantic import BaseModel, Field

from gateway import eventlog
from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.runtime import GatewayRuntime
from shared.errors import InvalidInput, NotFound
from shared.eventconfig import EVENT_KINDS

router = APIRouter(prefix="/stream", tags=["events"])
_ERRORS = error_responses(401, 403, 404, 422, 503)
EVENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_LIMIT = 1000


class EventPage(BaseModel):
    client_id: str
    events: list[dict[str, Any]] = Field(description="DESIGN §8 event objects, oldest first.")
    next: str | None = Field(description="Pass as `after` for the next page (the last event's id).")
    has_more: bool


class Counts(BaseModel):
    client_id: str
    zones: dict[str, int] = Field(description="Tracks inside each configured zone now.")
    lines: dict[str, dict[str, int]] = Field(description='Crossings of each configured line: {"in", "out"}.')
    as_of: float | None = Field(description="Capture time of the newest event (null before any).")
    event_id: str | None


def events_js(runtime: GatewayRuntime) -> JetStreamContext:
    """The JetStream context of this gateway replica (the one place that knows where it lives)."""
    return runtime.js


def _kinds(kinds: str | None) -> list[str] | None:
    if not kinds:
        return None
    wanted = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in EVENT_KINDS]
    if unknown or len(wanted) > len(EVENT_KINDS):
        raise InvalidInput(f"kinds: unknown event kinds {unknown[:4]}")
    return sorted(set(wanted))


@router.get("/sessions/{client_id}/events", responses=_ERRORS, summary="Replay the session's events")
async def list_events(
    runtime: RuntimeDep,
    record: AuthorizedSession,
    after: Annotated[str | None, Query(pattern=EVENT_ID_PATTERN, description="Event id: start after it.")] = None,
    kinds: Annotated[str | None, Query(max_length=256, description="Comma-separated kinds; default all.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> EventPage:
    try:
        page = await eventlog.replay(events_js(runtime), record.sid, after, _kinds(kinds), limit)
    except eventlog.UnknownCursor as exc:
        raise NotFound("after: no such event of this session (expired?)") from exc
    return EventPage(client_id=record.sid, events=page.events, next=page.next, has_more=page.has_more)


@router.get("/sessions/{client_id}/counts", responses=_ERRORS, summary="Zone occupancy and line totals now")
async def counts(runtime: RuntimeDep, record: AuthorizedSession) -> Counts:
    found = await eventlog.latest_counts(events_js(runtime), record.sid, record.config)
    return Counts(client_id=record.sid, **found)


@router.get(
    "/sessions/{client_id}/events/{event_id}/snapshot.jpg",
    responses={**_ERRORS, 200: {"content": {"image/jpeg": {}}}},
    response_class=Response,
    summary="The frame that triggered an event",
)
async def event_snapshot(
    runtime: RuntimeDep,
    record: AuthorizedSession,
    event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
) -> Response:
    jpeg = await eventlog.snapshot(events_js(runtime), record.sid, event_id)
    if jpeg is None:
        raise NotFound("no snapshot for this event (none taken, or expired)")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
