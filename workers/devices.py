"""Which OpenVINO device runs a model, with which options, and whether the compile came from the cache.

`SIGHTWIRE_DEVICE` takes what OpenVINO takes (CPU, GPU, GPU.1, NPU, AUTO,
AUTO:GPU,CPU, ...) plus a bare priority list (`GPU,CPU`, meaning AUTO over that
list). A device that is not there is a configuration error naming the devices
OpenVINO does see, raised before anything is compiled.

The compiled-model cache (OpenVINO's CACHE_DIR) is on by default under the user
cache: a second start imports the compiled blob instead of compiling. Whether a
compile was served from the cache is read from the cache folder itself (a miss
writes a new blob), and the load time is logged beside it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import openvino as ov

from workers.models.registry import ModelError

log = logging.getLogger(__name__)

VIRTUAL = ("AUTO", "MULTI", "HETERO", "BATCH")


class DeviceError(ModelError):
    """The device asked for is not one OpenVINO sees on this machine."""


def normalise(device: str) -> str:
    """`GPU,CPU` -> `AUTO:GPU,CPU`; anything else unchanged (upper-cased names)."""
    device = device.strip()
    if "," in device and ":" not in device:
        return "AUTO:" + device
    return device


def physical(device: str) -> list[str]:
    """The real devices a device string names (`AUTO` alone names none)."""
    head, _, rest = device.partition(":")
    if head.upper() in VIRTUAL:
        return [d.strip() for d in rest.split(",") if d.strip()]
    return [device]


def present(wanted: str, available: list[str]) -> bool:
    """`GPU` matches `GPU.0`; `GPU.1` must be listed as such."""
    base = wanted.upper()
    return base in available or ("." not in base and base in {a.split(".")[0] for a in available})


def check(core: ov.Core, device: str) -> str:
    """The normalised device; DeviceError naming the available devices when it cannot run.
    AUTO over a list needs one of them (it falls back down the list); MULTI/HETERO need all."""
    device = normalise(device)
    available = list(core.available_devices)
    wanted = physical(device)
    missing = [w for w in wanted if not present(w, available)]
    auto = device.upper().startswith("AUTO")
    if missing and (not auto or len(missing) == len(wanted)):
        raise DeviceError(
            f"OpenVINO sees no {' or '.join(missing) if auto else ', '.join(missing)} on this machine; "
            f"available: {', '.join(available) or 'none'}"
        )
    return device


def config(hint: str, requests: int, precision: str | None) -> dict[str, str]:
    """The compile options: the performance hint, the request count, the precision hint."""
    options = {"PERFORMANCE_HINT": hint}
    if requests:
        options["PERFORMANCE_HINT_NUM_REQUESTS"] = str(requests)
    if precision and precision != "default":
        options["INFERENCE_PRECISION_HINT"] = precision
    return options


def _blobs(cache_dir: Path | None) -> set[str]:
    if cache_dir is None or not cache_dir.is_dir():
        return set()
    return {p.name for p in cache_dir.iterdir() if p.suffix == ".blob"}


def compile_timed(
    core: ov.Core, model: ov.Model, device: str, options: dict[str, str], cache_dir: Path | None, name: str
) -> ov.CompiledModel:
    """`core.compile_model` with the cache set up, the time it took and whether the cache served it logged."""
    device = check(core, device)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        core.set_property({"CACHE_DIR": str(cache_dir)})
    before = _blobs(cache_dir)
    started = time.perf_counter()
    compiled = core.compile_model(model, device, options)
    load_ms = (time.perf_counter() - started) * 1000
    cache = "off" if cache_dir is None else ("miss" if _blobs(cache_dir) - before else "hit")
    log.info(
        "model loaded",
        extra={"model": name, "device": device, "compile_ms": round(load_ms, 1), "cache": cache, **options},
    )
    return compiled
