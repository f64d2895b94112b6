"""deploy/k8s: every overlay renders, and every rendered object is valid.

Built-in kinds are checked with kubernetes-validate in strict mode (unknown
fields rejected) against the oldest and the newest Kubernetes we support. KEDA's
ScaledObject is a CRD with no schema in kubernetes-validate, so it is checked
against tests/deploy/schemas/scaledobject-keda-v1alpha1.json (strict, with the
nats-jetstream trigger's parameters), which reuses kubernetes-validate's own
definitions for ObjectMeta and the HPA behaviour. No kind is skipped.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from referencing import Registry, Resource

from tests.deploy.manifests import K8S, OVERLAYS, SCHEMAS, containers, kind_of, kustomize, named

K8S_VERSIONS = ("1.29.0", "1.37.0")
CRD_SCHEMAS = {("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json"}


def k8s_definitions(version: str) -> Resource[Any]:
    """kubernetes-validate's strict `_definitions.json` for `version`."""
    package = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = package / f"v{version}-local-strict" / "_definitions.json"
    return Resource.from_contents(json.loads(path.read_text()))


def validate_crd(obj: dict[str, Any], version: str) -> None:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])]).read_text())
    registry: Registry[Any] = k8s_definitions(version) @ Registry()
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)


def validate(obj: dict[str, Any], version: str) -> None:
    """Raise if `obj` is not valid for Kubernetes `version` (strict)."""
    if (obj["apiVersion"], obj["kind"]) in CRD_SCHEMAS:
        validate_crd(obj, version)
    else:
        kubernetes_validate.validate(obj, version, strict=True)


def label(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_object_is_valid(rendered: dict[str, list[dict[str, Any]]], overlay: str, version: str) -> None:
    objects = rendered[overlay]
    assert objects, f"{overlay} rendered nothing"
    errors = []
    for obj in objects:
        try:
            validate(obj, version)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            errors.append(f"{label(obj)}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_validation_is_not_vacuous(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A typo in a built-in kind or in the KEDA trigger is caught, so the passes above mean something."""
    deployment = copy.deepcopy(named(rendered["prod"], "Deployment", "gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, K8S_VERSIONS[-1])
    scaled = copy.deepcopy(named(rendered["prod"], "ScaledObject", "detector"))
    scaled["spec"]["triggers"][0]["metadata"]["consumerName"] = "detector"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled, K8S_VERSIONS[-1])
    scaled = copy.deepcopy(named(rendered["prod"], "ScaledObject", "detector"))
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 20
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled, K8S_VERSIONS[-1])


def test_overlays_hold_the_required_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, objects in rendered.items():
        kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
        for name in ("gateway", "ingest", "detector", "depth", "scene"):
            assert ("Deployment", name) in kinds, (overlay, name)
            assert ("PodDisruptionBudget", name) in kinds, (overlay, name)
        assert ("StatefulSet", "nats") in kinds
        assert ("PodDisruptionBudget", "nats") in kinds
        assert ("HorizontalPodAutoscaler", "gateway") in kinds
        assert ("ScaledObject", "detector") in kinds and ("ScaledObject", "depth") in kinds
        assert ("Service", "gateway") in kinds and ("Service", "nats") in kinds
        assert ("Service", "nats-headless") in kinds
        namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
        assert namespaces == {"sightwire"}, overlay


def test_nats_is_a_three_node_jetstream_cluster(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for objects in rendered.values():
        nats = named(objects, "StatefulSet", "nats")
        assert nats["spec"]["replicas"] == 3
        assert nats["spec"]["serviceName"] == "nats-headless"
        claims = nats["spec"]["volumeClaimTemplates"]
        assert [c["metadata"]["name"] for c in claims] == ["data"]
        headless = named(objects, "Service", "nats-headless")
        assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
        client = named(objects, "Service", "nats")
        assert [p["port"] for p in client["spec"]["ports"]] == [4222], "monitoring must not be on the client Service"


def test_prod_replicates_streams_and_uses_an_external_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    prod = rendered["prod"]
    common = [o for o in kind_of(prod, "ConfigMap") if o["metadata"]["name"].startswith("sightwire-common-")]
    assert common[0]["data"]["SIGHTWIRE_STREAM_REPLICAS"] == "3"
    assert not kind_of(prod, "Secret"), "prod must not ship credentials"
    assert named(prod, "HorizontalPodAutoscaler", "gateway")["spec"]["minReplicas"] >= 2
    for name in ("detector", "depth"):
        assert named(prod, "ScaledObject", name)["spec"]["minReplicaCount"] >= 2
    nats = named(prod, "StatefulSet", "nats")
    assert nats["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
    dev = rendered["dev"]
    dev_common = [o for o in kind_of(dev, "ConfigMap") if o["metadata"]["name"].startswith("sightwire-common-")]
    assert dev_common[0]["data"]["SIGHTWIRE_STREAM_REPLICAS"] == "1"
    assert len(kind_of(dev, "Secret")) == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened_and_bounded(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for c in containers(rendered[overlay]):
        pod_security = c.pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, c.label
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", c.label
        assert c.pod["automountServiceAccountToken"] is False, c.label
        security = c.spec["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, c.label
        assert security["readOnlyRootFilesystem"] is True, c.label
        assert security["capabilities"]["drop"] == ["ALL"], c.label
        resources = c.spec["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), c.label
        assert "memory" in resources["limits"], c.label
        if c.is_sightwire:
            assert "cpu" in resources["limits"], c.label  # OpenVINO sizes its threads from it
            mounts = {m["mountPath"] for m in c.spec["volumeMounts"]}
            assert "/tmp" in mounts, c.label
        if not c.init and c.spec["name"] != "metrics":
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert probe in c.spec, f"{c.label}: no {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_mapped_and_pinned(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for c in containers(rendered[overlay]):
        image = c.spec["image"]
        assert ":" in image.split("/")[-1] or "@sha256:" in image, f"{c.label}: unpinned image {image}"
        assert not image.endswith(":latest"), c.label


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_monitoring_stays_inside(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """Port 8222 is reachable only from this namespace and the KEDA / monitoring namespaces."""
    policy = named(rendered[overlay], "NetworkPolicy", "nats")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "nats"}
    rules = [r for r in policy["spec"]["ingress"] if any(p["port"] == 8222 for p in r["ports"])]
    assert len(rules) == 1
    peers = rules[0]["from"]
    assert peers, "an empty `from` would open 8222 to everyone"
    for peer in peers:
        if "namespaceSelector" in peer:
            (expr,) = peer["namespaceSelector"]["matchExpressions"]
            assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "In"
            assert set(expr["values"]) == {"keda", "monitoring"}
        else:
            assert set(peer) == {"podSelector"}, "same-namespace peers only"
    default_deny = named(rendered[overlay], "NetworkPolicy", "default-deny-ingress")
    assert default_deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_models_init_component_renders_and_validates(tmp_path: Path) -> None:
    """deploy/k8s/components/models-init added to (a copy of) the prod overlay, as the README says."""
    overlay = tmp_path / "overlay"
    shutil.copytree(K8S / "overlays" / "prod", overlay)
    rel = Path(os.path.relpath(K8S, overlay))
    text = (overlay / "kustomization.yaml").read_text()
    text = text.replace("../../base", str(rel / "base")).replace("../../nats", str(rel / "nats"))
    text += f"\ncomponents:\n  - {rel / 'components' / 'models-init'}\n"
    (overlay / "kustomization.yaml").write_text(text)
    objects = kustomize(overlay)
    for obj in objects:
        validate(obj, K8S_VERSIONS[-1])
    for name in ("detector", "depth"):
        pod = named(objects, "Deployment", name)["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["args"] == ["models", "pull"]
        assert {"name": "SIGHTWIRE_MODEL_CACHE_DIR", "value": "/models"} in init["env"]
        assert {"name": "SIGHTWIRE_MODEL_DIR", "value": "/models"} in pod["containers"][0]["env"]
        assert init["image"] == pod["containers"][0]["image"]
