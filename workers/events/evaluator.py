"""The scene analyser that turns a session's ordered client messages into events (DESIGN §8).

The scene owner calls `observe` once per RESULTS message, in order; this class is pure and
deterministic given its state and the messages, so a new owner that restores a checkpoint and
replays the following messages computes the same events with the same ids (the EVENTS duplicate
window then drops the repeats).

Rules, per track (detections without a `track_id` are not evaluated):
- the track's point is its box's anchor (`bottom_center` or `center` of the config); the message's
  pixel `bbox` is read back into a `Box` (normalised corners), the rules work in pixels of the frame;
- zones: membership changes only when the point is more than the dead band (1 % of the frame
  diagonal) inside or outside the polygon edge, so a box jittering on an edge fires nothing;
  outside -> inside is `zone_enter`, inside -> outside is `zone_exit`; a track seen inside for
  `dwell_s` (capture time) gets one `dwell` per visit; a track not seen for `gone_ns` (2 s) leaves every
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

Times inside are nanoseconds (`*_ns`, from the message's `timestamp`, seconds); an event's own
`timestamp` is the message's, passed on unchanged, and `dwell_s` is seconds, as clients read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.boxes import Anchor, Box
from shared.clock import NS_PER_S, ns_to_s, s_to_ns
from shared.eventconfig import Line, Zone
from shared.sessions import SessionConfig
from workers.events.geometry import LineGeometry, PolygonGeometry, anchor_px, band_px

STATE_VERSION = 2  # 2: times in nanoseconds; a version 1 state (seconds) is converted on restore
DEFAULT_GONE_NS = 2 * NS_PER_S


def event_id(sid: str, results_seq: int, kind: str, where: str, track_id: int | None) -> str:
    """Stable id of one occurrence: the webhook idempotency key and the EVENTS `Nats-Msg-Id`."""
    key = f"{sid}|{results_seq}|{kind}|{where}|{'' if track_id is None else track_id}"
    return "ev_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def snapshot_path(sid: str, ev_id: str) -> str:
    return f"/stream/sessions/{sid}/events/{ev_id}/snapshot.jpg"


@dataclass
class Track:
    """What is remembered of one track between frames."""

    last_seen_ns: int
    label: str = ""
    zones: dict[str, int] = field(default_factory=dict)  # zone name -> time entered, ns (inside now)
    dwelled: list[str] = field(default_factory=list)  # zones whose dwell fired this visit
    sides: dict[str, int] = field(default_factory=dict)  # line name -> confirmed side (+1 / -1)

    def to_state(self, track_id: int) -> dict[str, Any]:
        return {
            "id": track_id,
            "seen_ns": self.last_seen_ns,
            "label": self.label,
            "zones": self.zones,
            "dwelled": self.dwelled,
            "sides": self.sides,
        }

    @classmethod
    def from_state(cls, s: Mapping[str, Any], version: int = STATE_VERSION) -> Track:
        to_ns = int if version >= 2 else s_to_ns  # version 1 kept seconds
        return cls(
            last_seen_ns=to_ns(s["seen_ns"] if version >= 2 else s["seen"]),
            label=str(s.get("label", "")),
            zones={str(k): to_ns(v) for k, v in dict(s.get("zones", {})).items()},
            dwelled=[str(z) for z in s.get("dwelled", [])],
            sides={str(k): int(v) for k, v in dict(s.get("sides", {})).items()},
        )


@dataclass(slots=True)
class Sighting:
    """One tracked detection of a message: its box, and the message's own entry for event bodies."""

    track_id: int
    box: Box
    det: Mapping[str, Any]


@dataclass
class Frame:
    """The parts of one detection message the rules need."""

    seq: int | None
    timestamp: float  # seconds, as the message has it: passed on to events unchanged
    at_ns: int
    width: int
    height: int
    sightings: list[Sighting]


@dataclass(slots=True)
class Seen:
    """One track in one frame, as the zone and line rules see it."""

    track: Track
    sighting: Sighting
    point: tuple[float, float]  # the anchor, pixels
    frame: Frame
    results_seq: int


class EventAnalyser:
    """Zones, lines, dwell and camera health of one session (implements `SceneAnalyser`)."""

    def __init__(self, sid: str, config: SessionConfig, *, gone_ns: int = DEFAULT_GONE_NS) -> None:
        self.sid = sid
        self.zones: list[Zone] = list(config.zones)
        self.lines: list[Line] = list(config.lines)
        self.anchor: Anchor = config.anchor
        self.gone_ns = gone_ns
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
        version = state.get("v") if state else None
        if version not in (1, STATE_VERSION):
            return
        zone_names = {z.name for z in self.zones}
        line_names = {ln.name for ln in self.lines}
        self.tracks = {}
        for s in state.get("tracks", []):
            track = Track.from_state(s, int(version))
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
        for sighting in sorted(frame.sightings, key=lambda s: s.track_id):
            tid = sighting.track_id
            if tid in seen:
                continue
            seen.add(tid)
            track = self.tracks.setdefault(tid, Track(last_seen_ns=frame.at_ns))
            track.last_seen_ns, track.label = frame.at_ns, sighting.box.label
            point = anchor_px(sighting.box, self.anchor, frame.width, frame.height)
            now = Seen(track, sighting, point, frame, results_seq)
            events += self._zones_of(now, polygons, band)
            events += self._lines_of(now, lines, band)
        events += self._forget_gone(frame, results_seq)
        return events

    def _zones_of(self, now: Seen, polygons: list[PolygonGeometry], band: float) -> list[dict[str, Any]]:
        events = []
        track = now.track
        for zone, geometry in zip(self.zones, polygons, strict=True):
            if zone.classes is not None and track.label not in zone.classes:
                continue
            distance = geometry.signed_distance(now.point)
            inside = zone.name in track.zones
            if not inside and distance > band:
                track.zones[zone.name] = now.frame.at_ns
                self.occupancy[zone.name] += 1
                events.append(self._track_event("zone_enter", zone.name, now))
            elif inside and distance < -band:
                entered_ns = track.zones.pop(zone.name)
                self.occupancy[zone.name] -= 1
                _discard(track.dwelled, zone.name)
                events.append(self._track_event("zone_exit", zone.name, now, _dwell(now.frame.at_ns - entered_ns)))
            elif inside and zone.dwell_s is not None and zone.name not in track.dwelled:
                stayed_ns = now.frame.at_ns - track.zones[zone.name]
                if stayed_ns >= s_to_ns(zone.dwell_s):
                    track.dwelled.append(zone.name)
                    events.append(self._track_event("dwell", zone.name, now, _dwell(stayed_ns)))
        return events

    def _lines_of(self, now: Seen, lines: list[LineGeometry], band: float) -> list[dict[str, Any]]:
        events = []
        track = now.track
        for line, geometry in zip(self.lines, lines, strict=True):
            if line.classes is not None and track.label not in line.classes:
                continue
            distance = geometry.signed_distance(now.point)
            if abs(distance) <= band:
                continue  # in the dead band: the confirmed side stays
            side = 1 if distance > 0 else -1
            before = track.sides.get(line.name)
            track.sides[line.name] = side
            if before is None or before == side or not geometry.within_extent(now.point):
                continue
            direction = "in" if side > 0 else "out"
            self.crossings[line.name][direction] += 1
            events.append(self._track_event("line_cross", line.name, now, {"direction": direction}))
        return events

    def _forget_gone(self, frame: Frame, results_seq: int) -> list[dict[str, Any]]:
        events = []
        for tid in sorted(self.tracks):
            track = self.tracks[tid]
            if frame.at_ns - track.last_seen_ns <= self.gone_ns:
                continue
            del self.tracks[tid]
            for name, entered_ns in sorted(track.zones.items()):
                self.occupancy[name] -= 1
                extra = {**_dwell(track.last_seen_ns - entered_ns), "reason": "lost", "label": track.label}
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

    def _track_event(self, kind: str, where: str, now: Seen, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        place = "line" if kind == "line_cross" else "zone"
        det = now.sighting.det
        body = {
            place: where,
            "frame_seq": now.frame.seq,
            "label": det.get("label"),
            "confidence": det.get("confidence"),
            "bbox": list(det["bbox"]),
            **(extra or {}),
        }
        return self._event(kind, now.results_seq, now.frame.timestamp, now.sighting.track_id, body, snapshot=True)

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
    sightings = [_sighting(d, width, height) for d in data.get("detections") or [] if _trackable(d)]
    return Frame(_int(data.get("seq")), timestamp, s_to_ns(timestamp), width, height, sightings)


def _trackable(det: Any) -> bool:
    if not isinstance(det, Mapping) or not isinstance(det.get("track_id"), int):
        return False
    bbox = det.get("bbox")
    return isinstance(bbox, Sequence) and len(bbox) >= 4 and all(isinstance(v, int | float) for v in bbox[:4])


def _sighting(det: Mapping[str, Any], width: int, height: int) -> Sighting:
    """A trackable entry of the client message, its pixel `bbox` read back into a normalised `Box`."""
    score, class_id = det.get("confidence"), det.get("class_id")
    score = score if type(score) is float else 0.0  # the rules never read it; keep it only when well-formed
    class_id = class_id if type(class_id) is int else -1
    box = Box.from_pixels(det["bbox"], width, height, score, class_id, str(det.get("label", "")))
    return Sighting(det["track_id"], box, det)


def _dwell(ns: int) -> dict[str, float]:
    """How long a track stayed, as events report it: seconds to the millisecond."""
    return {"dwell_s": round(ns_to_s(ns), 3)}


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
