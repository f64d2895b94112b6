"""IngestSettings from the environment: lists, ICE servers (secret), timing rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.settings import IngestSettings


def test_lists_and_ice_servers_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTWIRE_FILE_SOURCE_ROOTS", "/srv/a:/srv/b")
    monkeypatch.setenv("SIGHTWIRE_WEBRTC_HOST_ADDRESSES", "127.0.0.1, ::1")
    monkeypatch.setenv(
        "SIGHTWIRE_WEBRTC_ICE_SERVERS", '[{"urls": "turn:t.example", "username": "u", "credential": "TurnPw9"}]'
    )
    settings = IngestSettings()
    assert settings.file_source_roots == [Path("/srv/a"), Path("/srv/b")]
    assert settings.webrtc_host_addresses == ["127.0.0.1", "::1"]
    assert settings.webrtc_ice_servers[0].urls == ["turn:t.example"]
    assert "TurnPw9" not in repr(settings) and "TurnPw9" not in str(settings.model_dump())
    assert settings.source_policy().file_roots == (Path("/srv/a"), Path("/srv/b"))


def test_json_roots_and_empty_roots() -> None:
    assert IngestSettings(file_source_roots='["/m"]').file_source_roots == [Path("/m")]
    assert IngestSettings(file_source_roots="").file_source_roots == []


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FILE_SOURCE_ROOTS", "ALLOW_LINK_LOCAL_SOURCES", "USB_SOURCES_ALLOWED"):
        monkeypatch.delenv(f"SIGHTWIRE_{name}", raising=False)
    settings = IngestSettings()
    policy = settings.source_policy()
    assert not policy.allow_link_local and not policy.usb_allowed
    assert settings.file_source_roots and all(p.name == "media" for p in settings.file_source_roots)


def test_refresh_must_leave_room_for_a_lost_refresh() -> None:
    with pytest.raises(ValidationError):
        IngestSettings(lease_ttl_s=3, lease_refresh_s=1.0)
    settings = IngestSettings(lease_ttl_s=3)
    assert settings.refresh_interval(3) == 0.75
    assert settings.refresh_interval(2) == 0.5, "the bucket's real TTL wins"


def test_backoff_bounds_are_ordered() -> None:
    with pytest.raises(ValidationError):
        IngestSettings(reconnect_initial_s=5, reconnect_max_s=1)
