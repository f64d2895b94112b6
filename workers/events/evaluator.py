"""The scene analyser that turns a session's ordered client messages into events (DESIGN §8).

The scene owner calls `observe` once per RESULTS message, in order; this class is pure and
deterministic given its state and the messages, so a new owner that restores a checkpoint and
replays the following messages computes the same events with the same ids (the EVENTS duplicate
window then drops the repeats).

Rules, per track (detections without a `track_id` are not evaluated):
- the track's point is its box's anchor (`bottom_center` or `center` of the config);
- zones: membership changes only when the point is more than the dead band (1 % of the frame
  diagonal) inside or outside the polygon edge, so a box jittering on an edge fires nothing;
  outside -> inside is `zone_enter`, inside -> outside is `zone_exit`; a track seen inside for
  `dwell_s` (capture time) gets one `dwell` per visit; a track not seen for `gone_s` leaves every
  zone it was in (`zone_exit` with `reason: "lost"`);
- lines: the side changes only when the point is more than the dead band from the line; a flip of
  that confirmed side while the point is between the line's ends is one `line_cross`: `in` when the
  track moved onto the right-hand side of a->b (as seen on the image), `out` the other way. A box
  jittering on the line never leaves the band, so it fires nothing; a real crossing back fires the
  opposite direction once;
- counts: occupancy per zone, in/out totals per line, carried in every event;
- camera health: SOURCE_LOST -> `source_lost` once until SOURCE_RESTORED -> `source_restored`;
  SOURCE_UNREACHABLE -> `source_unreachable` once; the session's close -> `session_closed`.

Event ids are derived from (sid, RESULTS seq, kind, zone/line, track): stable across replays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.eventconfig import Line, Zone
from shared.sessions import SessionConfig
from workers.events.geometry import Anchor, LineGeometry, PolygonGeometry, anchor_point, band_px

STATE_VERSION = 1
DEFAULT_GONE_S = 2.0


def event_id(sid: str, results_seq: int, kind: str, where: str, track_id: int | None) -> str:
    """Stable id of one occurrence: the webhook idempotency key and the EVENTS `Nats-Msg-Id`."""
    key = f"{sid}|{results_seq}|{kind}|{where}|{'' if track_id is None else track_id}"
    return "ev_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def snapshot_path(sid: str, ev_id: str) -> str:
    return f"/stream/sessions/{sid}/events/{ev_id}/snapshot.jpg"


@dataclass
class Track:
    """What is remembered of one track between frames."""

    last_seen: float
    label: str = ""
    zones: dict[str, float] = field(default_factory=dict)  # zone name -> time entered (inside now)
    dwelled: list[str] = field(default_factory=list)  # zones whose dwell fired this visit
    sides: dict[str, int] = field(default_factory=dict)  # line name -> confirmed side (+1 / -1)

    def to_state(self, track_id: int) -> dict[str, Any]:
        return {
            "id": track_id,
            "seen": self.last_seen,
            "label": self.label,
            "zones": self.zones,
            "dwelled": self.dwelled,
            "sides": self.sides,
        }

    @classmethod
    def from_state(cls, s: Mapping[str, Any]) -> Track:
        return cls(
            last_seen=float(s["seen"]),
            label=str(s.get("label", "")),
            zones={str(k): float(v) for k, v in dict(s.get("zones", {})).items()},
            dwelled=[str(z) for z in s.get("dwelled", [])],
            sides={str(k): int(v) for k, v in dict(s.get("sides", {})).items()},
        )


@dataclass
class Frame:
    """The parts of one detection message the rules need."""

    seq: int | None
    timestamp: float
    width: int
    height: int
    detections: list[Mapping[str, Any]]


class EventAnalyser:
    """Zones, lines, dwell and camera health of one session (implements `SceneAnalyser`)."""

    def __init__(self, sid: str, config: SessionConfig, *, gone_s: float = DEFAULT_GONE_S) -> None:
        self.sid = sid
        self.zones: list[Zone] = list(config.zones)
        self.lines: list[Line] = list(config.lines)
        self.anchor: Anchor = config.anchor
        self.gone_s = gone_s
        self.tracks: dict[int, Track] = {}
        self.crossings: dict[str, dict[str, int]] = {ln.name: {"in": 0, "out": 0} for ln in self.lines}
        self.occupancy: dict[str, int] = {z.name: 0 for z in self.zones}
        self.source_lost = False
        self.unreachable = False
        self.closed = False
        self._geometry: tuple[int, int, list[PolygonGeometry], list[LineGeometry]] | None = None

    # -- SceneAnalyser -------------------------------------------------------------------------

    def observe(self, message: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        kind = message.get("type")
        if kind == "detection_result":
            return self._detections(message.get("data") or {}, results_seq)
        if kind == "error":
            return self._health(message, results_seq)
        if kind == "session_closed" and not self.closed:
            self.closed = True
            extra = {"error_code": message.get("error_code")}
            return [self._event("session_closed", results_seq, _float(message.get("timestamp")), None, extra)]
        return []

    def state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "tracks": [t.to_state(tid) for tid, t in sorted(self.tracks.items())],
            "crossings": self.crossings,
            "source_lost": self.source_lost,
            "unreachable": self.unreachable,
            "closed": self.closed,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint; zones or lines no longer configured are forgotten."""
        if not state or state.get("v") != STATE_VERSION:
            return
        zone_names = {z.name for z in self.zones}
        line_names = {ln.name for ln in self.lines}
        self.tracks = {}
        for s in state.get("tracks", []):
            track = Track.from_state(s)
            track.zones = {k: v for k, v in track.zones.items() if k in zone_names}
            track.dwelled = [z for z in track.dwelled if z in zone_names]
            track.sides = {k: v for k, v in track.sides.items() if k in line_names}
            self.tracks[int(s["id"])] = track
        saved = dict(state.get("crossings", {}))
        for name in line_names:
            counts = dict(saved.get(name, {}))
            self.crossings[name] = {"in": int(counts.get("in", 0)), "out": int(counts.get("out", 0))}
        self._recount()
        self.source_lost = bool(state.get("source_lost", False))
        self.unreachable = bool(state.get("unreachable", False))
        self.closed = bool(state.get("closed", False))

    # -- counts --------------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        occupancy = dict(self.occupancy)
        return {"zones": occupancy, "lines": {k: dict(v) for k, v in self.crossings.items()}}

    def _recount(self) -> None:
        """Occupancy from the tracks (after a restore); kept incrementally on enter and exit."""
        self.occupancy = {z.name: 0 for z in self.zones}
        for track in self.tracks.values():
            for name in track.zones:
                self.occupancy[name] += 1

    # -- camera health -------------------------------------------------------------------------

    def _health(self, message: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        code = message.get("error_code")
        ts = _float(message.get("timestamp"))
        extra = {"frame_seq": _int(message.get("frame_id")), "message": str(message.get("error", ""))[:256]}
        if code == "SOURCE_LOST" and not self.source_lost:
            self.source_lost = True
            return [self._event("source_lost", results_seq, ts, None, extra)]
        if code == "SOURCE_RESTORED" and self.source_lost:
            self.source_lost = False
            return [self._event("source_restored", results_seq, ts, None, extra)]
        if code == "SOURCE_UNREACHABLE" and not self.unreachable:
            self.unreachable = True
            return [self._event("source_unreachable", results_seq, ts, None, extra)]
        return []

    # -- zones and lines -----------------------------------------------------------------------

    def _detections(self, data: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        frame = _frame(data)
        if frame is None or not (self.zones or self.lines):
            return []
        polygons, lines = self._geometries(frame.width, frame.height)
        band = band_px(frame.width, frame.height)
        events: list[dict[str, Any]] = []
        seen: set[int] = set()
        for det in sorted(frame.detections, key=lambda d: d["track_id"]):
            tid = int(det["track_id"])
            if tid in seen:
                continue
            seen.add(tid)
            track = self.tracks.setdefault(tid, Track(last_seen=frame.timestamp))
            track.last_seen, track.label = frame.timestamp, str(det.get("label", ""))
            point = anchor_point(det["bbox"], self.anchor)
            events += self._zones_of(track, tid, det, point, polygons, band, frame, results_seq)
            events += self._lines_of(track, tid, det, point, lines, band, frame, results_seq)
        events += self._forget_gone(frame, results_seq)
        return events

    def _zones_of(
        self,
        track: Track,
        tid: int,
        det: Mapping[str, Any],
        point: tuple[float, float],
        polygons: list[PolygonGeometry],
        band: float,
        frame: Frame,
        results_seq: int,
    ) -> list[dict[str, Any]]:
        events = []
        for zone, geometry in zip(self.zones, polygons, strict=True):
            if zone.classes is not None and track.label not in zone.classes:
                continue
            distance = geometry.signed_distance(point)
            inside = zone.name in track.zones
            if not inside and distance > band:
                track.zones[zone.name] = frame.timestamp
                self.occupancy[zone.name] += 1
                events.append(self._track_event("zone_enter", zone.name, tid, det, frame, results_seq))
            elif inside and distance < -band:
                entered = track.zones.pop(zone.name)
                self.occupancy[zone.name] -= 1
                _discard(track.dwelled, zone.name)
                extra = {"dwell_s": round(frame.timestamp - entered, 3)}
                events.append(self._track_event("zone_exit", zone.name, tid, det, frame, results_seq, extra))
            elif inside and zone.dwell_s is not None and zone.name not in track.dwelled:
                stayed = frame.timestamp - track.zones[zone.name]
                if stayed >= zone.dwell_s:
                    track.dwelled.append(zone.name)
                    extra = {"dwell_s": round(stayed, 3)}
                    events.append(self._track_event("dwell", zone.name, tid, det, frame, results_seq, extra))
        return events

    def _lines_of(
        self,
        track: Track,
        tid: int,
        det: Mapping[str, Any],
        point: tuple[float, float],
        lines: list[LineGeometry],
        band: float,
        frame: Frame,
        results_seq: int,
    ) -> list[dict[str, Any]]:
        events = []
        for line, geometry in zip(self.lines, lines, strict=True):
            if line.classes is not None and track.label not in line.classes:
                continue
            distance = geometry.signed_distance(point)
            if abs(distance) <= band:
                continue  # in the dead band: the confirmed side stays
            side = 1 if distance > 0 else -1
            before = track.sides.get(line.name)
            track.sides[line.name] = side
            if before is None or before == side or not geometry.within_extent(point):
                continue
            direction = "in" if side > 0 else "out"
            self.crossings[line.name][direction] += 1
            extra = {"direction": direction}
            events.append(self._track_event("line_cross", line.name, tid, det, frame, results_seq, extra))
        return events

    def _forget_gone(self, frame: Frame, results_seq: int) -> list[dict[str, Any]]:
        events = []
        for tid in sorted(self.tracks):
            track = self.tracks[tid]
            if frame.timestamp - track.last_seen <= self.gone_s:
                continue
            del self.tracks[tid]
            for name, entered in sorted(track.zones.items()):
                self.occupancy[name] -= 1
                extra = {"dwell_s": round(track.last_seen - entered, 3), "reason": "lost", "label": track.label}
                events.append(self._event("zone_exit", results_seq, frame.timestamp, tid, {"zone": name, **extra}))
        return events

    def _geometries(self, width: int, height: int) -> tuple[list[PolygonGeometry], list[LineGeometry]]:
        cached = self._geometry
        if cached is None or cached[0] != width or cached[1] != height:
            polygons = [PolygonGeometry(z.polygon, width, height) for z in self.zones]
            lines = [LineGeometry(ln.a, ln.b, width, height) for ln in self.lines]
            cached = self._geometry = (width, height, polygons, lines)
        return cached[2], cached[3]

    # -- event bodies --------------------------------------------------------------------------

    def _track_event(
        self,
        kind: str,
        where: str,
        tid: int,
        det: Mapping[str, Any],
        frame: Frame,
        results_seq: int,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        place = "line" if kind == "line_cross" else "zone"
        body = {
            place: where,
            "frame_seq": frame.seq,
            "label": det.get("label"),
            "confidence": det.get("confidence"),
            "bbox": list(det["bbox"]),
            **(extra or {}),
        }
        return self._event(kind, results_seq, frame.timestamp, tid, body, snapshot=True)

    def _event(
        self,
        kind: str,
        results_seq: int,
        timestamp: float,
        track_id: int | None,
        body: Mapping[str, Any] | None,
        *,
        snapshot: bool = False,
    ) -> dict[str, Any]:
        body = dict(body or {})
        where = str(body.get("zone") or body.get("line") or "")
        ev_id = event_id(self.sid, results_seq, kind, where, track_id)
        return {
            "id": ev_id,
            "kind": kind,
            "sid": self.sid,
            "timestamp": timestamp,
            "results_seq": results_seq,
            "frame_seq": body.pop("frame_seq", None),
            "track_id": track_id,
            **body,
            "counts": self.counts(),
            "snapshot": snapshot_path(self.sid, ev_id) if snapshot else None,
        }


def _frame(data: Mapping[str, Any]) -> Frame | None:
    """The parts of a detection message the rules need; None for one too malformed to use."""
    try:
        width, height = int(data["width"]), int(data["height"])
        timestamp = float(data["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    if width <= 0 or height <= 0:
        return None
    detections = [d for d in data.get("detections") or [] if _trackable(d)]
    return Frame(_int(data.get("seq")), timestamp, width, height, detections)


def _trackable(det: Any) -> bool:
    if not isinstance(det, Mapping) or not isinstance(det.get("track_id"), int):
        return False
    bbox = det.get("bbox")
    return isinstance(bbox, Sequence) and len(bbox) >= 4 and all(isinstance(v, int | float) for v in bbox[:4])


def _discard(items: list[str], value: str) -> None:
    if value in items:
        items.remove(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
