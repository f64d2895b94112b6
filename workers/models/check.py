"""Model and device checks run before anything starts: `sightwire up`'s pre-flight and `sightwire doctor`.

A missing model must be one clear line before any component starts (naming the
model, where it was looked for and the fix), not a worker that crash-loops.
The pre-flight resolves exactly as a worker will (the same registry calls), so
it passing means the workers find their files; a pinned model that is missing
locally is pulled here, verified, once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import openvino as ov

from shared.doctor import Check
from workers import devices
from workers.models.registry import ModelError, ModelSpec, find_local, fix_for, places, resolve, spec_of
from workers.settings import WorkerKind, WorkerSettings

KINDS: tuple[WorkerKind, ...] = ("detector", "depth")


def _model_problem(kind: WorkerKind, settings: WorkerSettings) -> str | None:
    name = settings.model_name(kind)
    try:
        spec = spec_of(name, kind, settings)
    except ModelError as exc:
        return f"{kind} model: {exc}"
    if find_local(spec, settings) is not None:
        return None
    if not (spec.pullable and settings.model_download):
        return (
            f"{kind} model {name!r}: {spec.filename} not found in {', '.join(places(spec, settings))}; {fix_for(spec)}"
        )
    try:
        resolve(spec, settings)  # a verified download into the user cache
    except ModelError as exc:
        return f"{kind} model {name!r}: {exc}; {fix_for(spec)}"
    return None


def preflight(settings: WorkerSettings) -> list[str]:
    """One line per problem that would stop a worker; empty when every model and the device are usable."""
    problems = [p for kind in KINDS if (p := _model_problem(kind, settings))]
    core = ov.Core()
    for setting, device in dict.fromkeys(_device_setting(kind, settings) for kind in KINDS):
        try:
            devices.check(core, device)
        except devices.DeviceError as exc:
            problems.append(f"{setting}={device}: {exc}")
    return problems


def _device_setting(kind: WorkerKind, settings: WorkerSettings) -> tuple[str, str]:
    """(the variable that chose `kind`'s device, the device)."""
    own = settings.detector_device if kind == "detector" else settings.depth_device
    return (f"SIGHTWIRE_{kind.upper()}_DEVICE", own) if own else ("SIGHTWIRE_DEVICE", settings.device)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _model_check(kind: WorkerKind, settings: WorkerSettings) -> Check:
    label = f"{kind} model {settings.model_name(kind)}"
    try:
        spec: ModelSpec = spec_of(settings.model_name(kind), kind, settings)
    except ModelError as exc:
        return Check(label, False, str(exc), "`sightwire models list`, then SIGHTWIRE_DETECTOR_MODEL / _DEPTH_MODEL")
    path = find_local(spec, settings)
    if path is None:
        where = ", ".join(places(spec, settings))
        pullable = spec.pullable and settings.model_download
        found = f"not found in {where}" + (" (pulled at start)" if pullable else "")
        return Check(label, pullable, found, fix_for(spec))
    digest = _sha256(path)
    if spec.sha256 and digest != spec.sha256:
        return Check(label, False, f"{path}: sha256 {digest[:12]}... is not the pinned {spec.sha256[:12]}...",
                     f"delete it and run `sightwire models pull {spec.name}`")  # fmt: skip
    return Check(label, True, f"{path} sha256 {digest[:12]}" + (" (verified)" if spec.sha256 else ""))


def doctor_checks(settings: WorkerSettings) -> list[Check]:
    """OpenVINO and its devices, then each configured model with its hash."""
    core = ov.Core()
    available = list(core.available_devices)
    result = [Check("OpenVINO", True, f"{ov.__version__.split('-')[0]}, devices: {', '.join(available)}")]
    for kind in KINDS:
        setting, device = _device_setting(kind, settings)
        try:
            result.append(Check(f"{kind} device", True, devices.check(core, device)))
        except devices.DeviceError as exc:
            fix = f"set {setting} to one of {', '.join(available)}"
            result.append(Check(f"{kind} device", False, f"{setting}={device}: {exc}", fix))
    cache = settings.compiled_cache_dir()
    result.append(Check("compiled-model cache", True, str(cache) if cache else "off (SIGHTWIRE_OV_CACHE=false)"))
    return result + [_model_check(kind, settings) for kind in KINDS]
