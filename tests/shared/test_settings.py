"""Settings two services share are declared once, and read from the same variables as before."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from shared.settings import CommaList, HeartbeatSettings, IceServerSettings, SourcePolicySettings, split_list
from workers.scene.settings import SceneSettings
from workers.settings import WorkerSettings


class Listed(BaseModel):
    items: CommaList


@pytest.mark.parametrize(
    ("raw", "items"),
    [("a, b,,c ", ["a", "b", "c"]), ('["a", "b,c"]', ["a", "b,c"]), ("", []), (["x"], ["x"])],
)
def test_comma_lists_take_commas_or_json(raw: object, items: list[str]) -> None:
    assert Listed(items=raw).items == items  # type: ignore[arg-type]


def test_split_list_takes_another_separator() -> None:
    assert split_list("/a:/b:", ":") == ["/a", "/b"]
    assert split_list(["/a"], ":") == ["/a"]


def test_shared_fields_come_from_one_declaration() -> None:
    for cls, mixin, name in [
        (IngestSettings, HeartbeatSettings, "heartbeat_interval_s"),
        (WorkerSettings, HeartbeatSettings, "heartbeat_interval_s"),
        (SceneSettings, HeartbeatSettings, "heartbeat_interval_s"),
        (IngestSettings, IceServerSettings, "webrtc_ice_servers"),
        (GatewaySettings, IceServerSettings, "webrtc_ice_servers"),
        (IngestSettings, SourcePolicySettings, "allow_link_local_sources"),
        (GatewaySettings, SourcePolicySettings, "allow_link_local_sources"),
    ]:
        assert issubclass(cls, mixin)
        assert name not in inspect.get_annotations(cls), f"{cls.__name__} declares {name} again"


def test_the_variables_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTWIRE_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("SIGHTWIRE_ALLOW_LINK_LOCAL_SOURCES", "true")
    monkeypatch.setenv("SIGHTWIRE_WEBRTC_ICE_SERVERS", '[{"urls": "stun:stun.example.org"}]')
    monkeypatch.setenv("SIGHTWIRE_CORS_ORIGINS", "https://a.example, https://b.example")
    for cls in (IngestSettings, WorkerSettings, SceneSettings):
        assert cls().heartbeat_interval_s == 0.5
    for service in (IngestSettings(), GatewaySettings()):
        assert service.allow_link_local_sources is True
        assert [s.urls for s in service.webrtc_ice_servers] == [["stun:stun.example.org"]]
    assert GatewaySettings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("SIGHTWIRE_HEARTBEAT_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="heartbeat_interval_s"):
        WorkerSettings()
