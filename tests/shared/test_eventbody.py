"""An EVENTS message body is read by one function, which skips anything not shaped like one."""

from __future__ import annotations

import json

import pytest

from shared.eventbody import event_of


def test_the_event_object_of_a_well_formed_body() -> None:
    event = {"id": "e1", "kind": "zone_enter", "zone": "bay"}
    assert event_of(json.dumps({"type": "event", "event": event}).encode()) == event


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"event"', b'{"type": "event"}', b'{"event": [1]}', b'{"event": null}'],
)
def test_anything_else_is_none(body: bytes) -> None:
    assert event_of(body) is None
