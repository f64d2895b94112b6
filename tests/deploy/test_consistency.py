"""The deployment files agree with the code they deploy.

Read from the rendered manifests and the resolved compose model, checked
against the real code (imported, never restated):
- every SIGHTWIRE_* variable a container gets is a field of that component's
  settings class, and the values parse;
- every command is a valid `sightwire` subcommand for that component;
- the KEDA triggers name the stream and the durables the workers bind, and the
  NATS monitoring endpoint the scaler needs;
- probe paths and ports exist (gateway routes from `create_app`, metrics ports);
- Services, autoscalers and budgets point at workloads that exist;
- the Dockerfile's entry point, command and copied paths are usable.
A settings or service module that does not exist yet makes these tests fail
(ImportError), never skip.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import sys
from types import ModuleType
from typing import Any

import pytest
from pydantic_settings import BaseSettings
from starlette.routing import Match, Mount

from shared import cli, subjects
from shared.settings import NatsSettings
from tests.deploy.manifests import (
    OVERLAYS,
    REPO,
    Container,
    component_of,
    container_env,
    containers,
    kind_of,
    named,
)
from tests.deploy.natsproc import COMPOSE_NATS_CONF, client_port

COMPOSE_COMPONENTS = {
    "gateway": "gateway",
    "ingest": "ingest",
    "detector": "worker",
    "depth": "worker",
    "scene": "worker",
}
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOY_README = REPO / "deploy" / "README.md"


# ---- helpers -------------------------------------------------------------------------------


def settings_class(args: list[str]) -> type[BaseSettings]:
    """The settings class the CLI builds for `sightwire ARGS` (shared.cli.SERVICE_SETTINGS)."""
    command = args[0]
    key = "worker" if command == "models" else command
    return cli.load(cli.SERVICE_SETTINGS[key])


def env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def sightwire_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("SIGHTWIRE_")}


def build_with_env(cls: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> BaseSettings:
    """Construct `cls` exactly as the container would: from this environment only."""
    with monkeypatch.context() as patch:
        for key in [k for k in sys.modules["os"].environ if k.startswith("SIGHTWIRE_")]:
            patch.delenv(key)
        for key, value in sightwire_vars(env).items():
            patch.setenv(key, value)
        return cls()


class GatewayRoutes:
    """The real gateway app (create_app; the lifespan is not started), asked the way it dispatches."""

    def __init__(self) -> None:
        from gateway.app import create_app
        from gateway.settings import GatewaySettings

        self.app = create_app(GatewaySettings(log_json=False))

    def serves_get(self, path: str) -> bool:
        """True if GET `path` reaches an API route (not the web UI's catch-all static mount)."""
        scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return not isinstance(route, Mount)
        return False


def gateway_routes() -> GatewayRoutes:
    return GatewayRoutes()


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sightwire_healthcheck", REPO / "deploy" / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def k8s_sightwire(objects: list[dict[str, Any]]) -> list[Container]:
    found = [c for c in containers(objects) if c.is_sightwire]
    assert found
    return found


def port_number(container: Container, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.spec.get("ports", []) if p["name"] == port]
    assert numbers, f"{container.label}: no port named {port}"
    return int(numbers[0])


# ---- settings and commands -----------------------------------------------------------------


def test_compose_env_vars_are_settings_fields(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if name == "nats":
            cls: type[BaseSettings] = NatsSettings  # nats-server reads the same credential variables
        else:
            cls = settings_class(service["command"])
            build_with_env(cls, env, monkeypatch)  # the values parse as the service will parse them
        unknown = set(sightwire_vars(env)) - env_names(cls)
        assert not unknown, f"compose service {name} sets {sorted(unknown)}, unknown to {cls.__name__}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_env_vars_are_settings_fields(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[overlay]
    for c in containers(objects):
        env = container_env(c, objects)
        if c.is_sightwire:
            cls: type[BaseSettings] = settings_class(c.spec["args"])
            build_with_env(cls, env, monkeypatch)
        else:
            cls = NatsSettings
        unknown = set(sightwire_vars(env)) - env_names(cls)
        assert not unknown, f"{overlay} {c.label} sets {sorted(unknown)}, unknown to {cls.__name__}"


def test_compose_commands_are_sightwire_subcommands(compose: dict[str, Any]) -> None:
    for name, component in COMPOSE_COMPONENTS.items():
        command = compose["services"][name]["command"]
        args = cli.parser().parse_args(command)
        assert args.command == component, name
        if component == "worker":
            assert args.kind == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_commands_are_sightwire_subcommands(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for c in k8s_sightwire(rendered[overlay]):
        assert "command" not in c.spec, f"{c.label}: keep the image's ENTRYPOINT (sightwire)"
        args = cli.parser().parse_args(c.spec["args"])
        if c.init:
            assert args.command == "models", c.label
        else:
            assert component_of(c.spec["args"]) == c.workload["metadata"]["name"], c.label


# ---- KEDA ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_each_worker_on_its_own_durable(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    from workers.service import DURABLES  # what the workers really bind

    assert {DURABLES["detector"], DURABLES["depth"]} == {subjects.DETECTOR_DURABLE, subjects.DEPTH_DURABLE}
    objects = rendered[overlay]
    scaled = kind_of(objects, "ScaledObject")
    assert len(scaled) == 2
    for obj in scaled:
        target = named(objects, "Deployment", obj["spec"]["scaleTargetRef"]["name"])
        (container,) = target["spec"]["template"]["spec"]["containers"]
        kind = component_of(container["args"])
        assert container["args"] == ["worker", kind]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "nats-jetstream"
        meta = trigger["metadata"]
        assert meta["stream"] == subjects.FRAMES_STREAM
        assert meta["consumer"] == DURABLES[kind], f"{obj['metadata']['name']} watches the wrong consumer"
        assert "replicas" not in target["spec"], "KEDA owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reaches_the_nats_monitoring_endpoint(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """host = <headless Service>.<its namespace>, so <pod>.<host> resolves from KEDA's namespace."""
    objects = rendered[overlay]
    headless = named(objects, "Service", "nats-headless")
    nats_set = named(objects, "StatefulSet", "nats")
    assert nats_set["spec"]["serviceName"] == "nats-headless"
    monitor = next(p for p in headless["spec"]["ports"] if p["name"] == "monitor")
    nats_container = next(c for c in containers(objects) if c.spec["name"] == "nats")
    assert port_number(nats_container, monitor["targetPort"]) == monitor["port"] == 8222
    auth = next(o for o in kind_of(objects, "ConfigMap") if o["metadata"]["name"].startswith("nats-config-"))
    uses_accounts = re.search(r"^\s*(accounts|operator|resolver)\s*[:{]", auth["data"]["auth.conf"], re.MULTILINE)
    for obj in kind_of(objects, "ScaledObject"):
        meta = obj["spec"]["triggers"][0]["metadata"]
        host, port = meta["natsServerMonitoringEndpoint"].rsplit(":", 1)
        assert host == f"nats-headless.{headless['metadata']['namespace']}"
        assert int(port) == monitor["port"]
        # Users of a plain authorization block live in the global account.
        assert meta["account"] == "$G" and not uses_accounts


# ---- probes, ports, services ---------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_real_endpoints(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    routes = gateway_routes()
    objects = rendered[overlay]
    for c in k8s_sightwire(objects):
        if c.init:
            continue
        env = container_env(c, objects)
        component = component_of(c.spec["args"])
        annotations = c.workload["spec"]["template"]["metadata"]["annotations"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = c.spec[probe]["httpGet"]
            port = port_number(c, get["port"])
            if component == "gateway":
                path = get["path"].split("?", 1)[0]
                assert routes.serves_get(path), f"{c.label} {probe}: the gateway has no GET {path}"
                assert port == int(env["SIGHTWIRE_PORT"]), c.label
            else:
                assert get["path"] == "/metrics", c.label
                assert port == int(env["SIGHTWIRE_METRICS_PORT"]) != 0, c.label
        if component == "gateway":
            assert c.spec["livenessProbe"]["httpGet"]["path"] == "/stream/health"
            assert c.spec["readinessProbe"]["httpGet"]["path"] == "/stream/ready"
            assert env["SIGHTWIRE_HOST"] == "0.0.0.0"
            assert routes.serves_get(annotations["prometheus.io/path"])
            assert int(annotations["prometheus.io/port"]) == int(env["SIGHTWIRE_PORT"])
        else:
            assert int(annotations["prometheus.io/port"]) == int(env["SIGHTWIRE_METRICS_PORT"])


def test_image_healthcheck_hits_real_endpoints(compose: dict[str, Any]) -> None:
    """deploy/healthcheck.py (the Dockerfile HEALTHCHECK) asks the same endpoints, with compose's env."""
    healthcheck = load_healthcheck()
    routes = gateway_routes()
    for name in COMPOSE_COMPONENTS:
        service = compose["services"][name]
        argv = ["/sbin/docker-init", "--", "sightwire", *service["command"]]
        url = healthcheck.health_url(argv, service["environment"])
        assert url is not None, name
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", url)
        assert match, url
        if name == "gateway":
            assert int(match.group(1)) == int(service["environment"]["SIGHTWIRE_PORT"])
            assert routes.serves_get(match.group(2))
        else:
            assert (match.group(1), match.group(2)) == (service["environment"]["SIGHTWIRE_METRICS_PORT"], "/metrics")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_autoscalers_point_at_real_workloads(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    workloads = kind_of(objects, "Deployment") + kind_of(objects, "StatefulSet")
    for service in kind_of(objects, "Service"):
        selector = service["spec"]["selector"]
        matching = [w for w in workloads if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert matching, f"Service {service['metadata']['name']} selects nothing"
        for port in service["spec"]["ports"]:
            for w in matching:
                spec = w["spec"]["template"]["spec"]
                names = {p.get("name") for c in spec["containers"] for p in c.get("ports", [])}
                assert port["targetPort"] in names, (service["metadata"]["name"], port)
    for budget in kind_of(objects, "PodDisruptionBudget"):
        labels = budget["spec"]["selector"]["matchLabels"]
        assert [w for w in workloads if labels.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
    hpa = named(objects, "HorizontalPodAutoscaler", "gateway")
    assert named(objects, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert "replicas" not in named(objects, "Deployment", "gateway")["spec"], "the HPA owns the replica count"


def test_nats_is_the_same_everywhere(compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]) -> None:
    image = compose["services"]["nats"]["image"]
    for overlay, objects in rendered.items():
        nats_container = next(c for c in containers(objects) if c.spec["name"] == "nats")
        assert nats_container.spec["image"] == image, overlay
        common = next(o for o in kind_of(objects, "ConfigMap") if o["metadata"]["name"].startswith("sightwire-common-"))
        client = named(objects, "Service", "nats")
        assert (
            common["data"]["SIGHTWIRE_NATS_URL"]
            == f"nats://{client['metadata']['name']}:{client['spec']['ports'][0]['port']}"
        )
    compose_url = f"nats://nats:{client_port(COMPOSE_NATS_CONF.read_text())}"  # the service's own listener
    for name in COMPOSE_COMPONENTS:
        assert compose["services"][name]["environment"]["SIGHTWIRE_NATS_URL"] == compose_url


# ---- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def included_by_dockerignore(path: str) -> bool:
    """Last matching rule wins, `!` re-includes (the allow-list style of our .dockerignore)."""
    included = True
    for raw in DOCKERIGNORE.read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            included = negate
    return included


def test_dockerfile_entrypoint_command_and_user() -> None:
    instructions = dockerfile_instructions()
    final = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    tail = dict(instructions[final:])
    assert json.loads(tail["ENTRYPOINT"]) == ["sightwire"]
    cli.parser().parse_args(json.loads(tail["CMD"]))  # the default component is a real subcommand
    assert re.fullmatch(r"\d+:\d+", tail["USER"]) and not tail["USER"].startswith("0:"), "non-root, numeric"
    assert "healthcheck.py" in tail["HEALTHCHECK"]
    # The runtime stages never install compilers; only the builder does.
    builder = [a for k, a in instructions if k == "FROM" and a.endswith(" AS builder")]
    assert builder
    start = next(i for i, (k, a) in enumerate(instructions) if k == "FROM" and a.endswith(" AS runtime"))
    runtime_commands = " ".join(a for k, a in instructions[start:] if k == "RUN")
    assert not re.search(r"build-essential|\bgcc\b|\bg\+\+|apt-get install", runtime_commands)
    assert any(k == "RUN" and "pip wheel" in a for k, a in instructions[:start])


def test_dockerfile_python_matches_the_project() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    low, high = re.search(r'requires-python = ">=3\.(\d+),<3\.(\d+)"', pyproject).groups()  # type: ignore[union-attr]
    version = re.search(r"ARG PYTHON_IMAGE=python:3\.(\d+)-slim", DOCKERFILE.read_text())
    assert version and int(low) <= int(version.group(1)) < int(high)


def test_dockerfile_copies_only_what_the_context_holds() -> None:
    sources = []
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in args:
            parts = [p for p in args.split() if not p.startswith("--")]
            sources += parts[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert included_by_dockerignore(source), f"COPY {source}: excluded by .dockerignore"
    for secret in (".env", ".venv/bin/python", ".git/config", "tests/conftest.py"):
        assert not included_by_dockerignore(secret), f"{secret} would be sent to the Docker daemon"


# ---- documentation -------------------------------------------------------------------------


def test_deploy_readme_documents_every_variable(
    compose: dict[str, Any], rendered: dict[str, list[dict[str, Any]]]
) -> None:
    used: set[str] = set()
    for service in compose["services"].values():
        used |= set(sightwire_vars(service.get("environment") or {}))
    for objects in rendered.values():
        for c in containers(objects):
            used |= set(sightwire_vars(container_env(c, objects)))
    text = DEPLOY_README.read_text()
    missing = sorted(v for v in used if f"`{v}`" not in text)
    assert not missing, f"deploy/README.md does not document {missing}"


def test_deploy_readme_names_only_real_variables() -> None:
    """Every SIGHTWIRE_* name in deploy/README.md is a field of some settings class."""
    known: set[str] = set()
    for path in cli.SERVICE_SETTINGS.values():
        known |= env_names(cli.load(path))
    mentioned = set(re.findall(r"\bSIGHTWIRE_[A-Z0-9_]*[A-Z0-9]\b", DEPLOY_README.read_text()))
    assert mentioned
    assert not sorted(mentioned - known), f"deploy/README.md names unknown variables: {sorted(mentioned - known)}"


def test_dashboard_queries_known_metrics() -> None:
    """Every sightwire_* metric the dashboard queries is defined somewhere in the code."""
    dashboard = json.loads((REPO / "deploy" / "grafana" / "sightwire.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in (p for p in panels if p["type"] != "row"):
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    packages = ("shared", "gateway", "workers", "ingest")
    code = "\n".join(p.read_text() for pkg in packages for p in (REPO / pkg).rglob("*.py"))
    for name in sorted({m for e in exprs for m in re.findall(r"\bsightwire_[a-z0-9_]+", e)}):
        base = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert f'"{base}' in code, f"dashboard metric {name} is not defined in the code"
