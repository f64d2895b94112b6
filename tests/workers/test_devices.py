"""SIGHTWIRE_DEVICE against the devices OpenVINO really sees here (CPU only on this machine)."""

from __future__ import annotations

import openvino as ov
import pytest

from workers import devices


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def test_present_devices_and_priority_lists_pass(core: ov.Core) -> None:
    assert devices.check(core, "CPU") == "CPU"
    assert devices.check(core, "AUTO") == "AUTO"
    assert devices.check(core, "GPU,CPU") == "AUTO:GPU,CPU"  # AUTO falls back down the list
    assert devices.check(core, "AUTO:CPU") == "AUTO:CPU"


@pytest.mark.parametrize(("device", "missing"), [("GPU", "GPU"), ("NPU", "NPU"), ("GPU,NPU", "GPU or NPU"),
                                                 ("HETERO:GPU,CPU", "GPU"), ("CPU.3", "CPU.3")])  # fmt: skip
def test_absent_devices_name_what_is_available(core: ov.Core, device: str, missing: str) -> None:
    with pytest.raises(devices.DeviceError) as caught:
        devices.check(core, device)
    assert str(caught.value) == f"OpenVINO sees no {missing} on this machine; available: CPU"


def test_compile_options() -> None:
    assert devices.config("LATENCY", 0, "default") == {"PERFORMANCE_HINT": "LATENCY"}
    assert devices.config("THROUGHPUT", 3, "f32") == {
        "PERFORMANCE_HINT": "THROUGHPUT", "PERFORMANCE_HINT_NUM_REQUESTS": "3", "INFERENCE_PRECISION_HINT": "f32"
    }  # fmt: skip
