"""Request bodies take every session config field with the bounds written once, in `SessionConfig`."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.schemas import ConfigFields, ConfigUpdate, SessionCreate
from shared.sessions import SessionConfig


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without what legitimately differs (default, title, the null branch)."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    assert len(branches) == 1, schema
    return {k: v for k, v in branches[0].items() if k not in ("default", "title", "description")}


def test_config_fields_are_exactly_the_session_config_fields() -> None:
    assert set(ConfigFields.model_fields) == set(SessionConfig.model_fields)
    assert all(info.default is None for info in ConfigFields.model_fields.values())


def test_each_field_has_the_session_configs_bounds_in_the_schema() -> None:
    ours = ConfigFields.model_json_schema()["properties"]
    theirs = SessionConfig.model_json_schema()["properties"]
    for name in SessionConfig.model_fields:
        assert _bounds(ours[name]) == _bounds(theirs[name]), name
    assert _bounds(ours["fps_limit"]) == {"type": "integer", "minimum": 1, "maximum": 30}


@pytest.mark.parametrize(
    "bad",
    [
        {"fps_limit": 0},
        {"fps_limit": 31},
        {"confidence_threshold": 1.5},
        {"depth_fps": 0},
        {"classes": ["x"] * 81},
        {"classes": [""]},
        {"camera_hfov_deg": 180},
        {"max_frame_age_ms": 49},
        {"anchor": "top"},
        {"calibration": {"scale": 0}},
        {"zones": "nope"},
        {"fps_limt": 10},
    ],
)
def test_out_of_bounds_or_unknown_fields_are_refused_by_every_body(bad: dict[str, Any]) -> None:
    for model in (ConfigFields, ConfigUpdate, SessionCreate):
        with pytest.raises(ValidationError):
            model.model_validate(bad)
    with pytest.raises(ValidationError):
        SessionCreate.model_validate({"config": bad})


def test_only_sent_fields_are_changes_and_flat_fields_win() -> None:
    body = SessionCreate.model_validate({"fps_limit": 15, "config": {"fps_limit": 5, "enable_depth": False}})
    assert body.changes() == {"fps_limit": 15, "enable_depth": False}
    update = ConfigUpdate.model_validate({"type": "config_update", "config": {"classes": None}})
    assert update.changes() == {"classes": None}


def test_the_session_rate_has_its_code_name() -> None:
    config = SessionConfig(fps_limit=12)
    assert config.analysis_fps == 12
    assert "analysis_fps" not in config.model_dump()
