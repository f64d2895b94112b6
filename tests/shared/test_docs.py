"""The README's configuration table covers every setting of every service."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from shared.cli import SERVICE_SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("component", sorted(SERVICE_SETTINGS))
def test_every_setting_is_documented(component: str) -> None:
    module, _, name = SERVICE_SETTINGS[component].partition(":")
    settings_class = getattr(importlib.import_module(module), name)
    text = README.read_text()
    missing = [f for f in settings_class.model_fields if f"`SIGHTWIRE_{f.upper()}`" not in text]
    assert not missing, f"README configuration table lacks: {missing}"


def test_readme_gives_the_ci_test_command() -> None:
    assert "bash .ci/run" in README.read_text()
