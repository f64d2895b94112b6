"""A 2-class detector added with `models add`: its names reach /stream/models and police session `classes`.

Real parts: the detector worker runs the real 2-class model (YOLOv8n's graph cut
to two classes, with an Ultralytics metadata.yaml naming them), the real
gateway process learns the names from the worker's heartbeats.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.support.gateway_app import poll_until
from tests.support.procs import ComponentRunner
from tests.workers.models.support import two_class_export
from workers.models.add import Request, add
from workers.settings import WorkerSettings

LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


async def gateway_url(components: ComponentRunner, proc: subprocess.Popen[bytes]) -> str:
    found: list[str] = []

    async def listening() -> bool:
        assert proc.poll() is None, components.log_of(proc)
        if match := LISTENING.search(components.log_of(proc)):
            found.append(f"http://127.0.0.1:{match.group(1)}")
        return bool(found)

    await poll_until(listening, timeout_s=90, every_s=0.2)
    return found[0]


async def test_two_class_model_names_flow_to_models_and_sessions(
    components: ComponentRunner, model_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    add(Request(two_class_export(model_dir, tmp_path / "best_openvino_model"), name="roads"),
        WorkerSettings(model_store_dir=store))  # fmt: skip
    env = {"SIGHTWIRE_MODEL_STORE_DIR": str(store), "SIGHTWIRE_DETECTOR_MODEL": "roads",
           "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3"}  # fmt: skip
    worker = components.start("worker", "detector", env=env, name="roads")
    gateway = components.start("gateway", "--port", "0", env={"SIGHTWIRE_LOG_JSON": "false"})
    base = await gateway_url(components, gateway)
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        detectors: list[dict[str, object]] = []

        async def listed() -> bool:
            assert worker.poll() is None, components.log_of(worker)
            models = (await client.get("/stream/models")).json()["models"]
            detectors[:] = [m for m in models if m["kind"] == "detector"]
            return bool(detectors)

        await poll_until(listed, timeout_s=180, every_s=0.3)
        assert detectors == [{"kind": "detector", "model": "roads", "instances": 1, "labels": ["crack", "pothole"]}]

        refused = await client.post("/stream/sessions", json={"classes": ["person"]})
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["error_code"] == "VALIDATION_ERROR" and "person" in body["error"] and "pothole" in body["error"]

        created = await client.post("/stream/sessions", json={"classes": ["pothole"]})
        assert created.status_code == 201, created.text
        session = created.json()
        headers = {"Authorization": f"Bearer {session['token']}"}
        path = f"/stream/sessions/{session['client_id']}/config"
        patched = await client.patch(path, json={"classes": ["car"]}, headers=headers)
        assert patched.status_code == 422 and "car" in patched.json()["error"]
        assert (await client.patch(path, json={"classes": ["crack"]}, headers=headers)).status_code == 200
