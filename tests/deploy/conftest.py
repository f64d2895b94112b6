"""Fixtures for the deployment checks: each rendering is produced once per run.

Rendering an overlay or the compose file takes a fraction of a second, but many
tests read them; session scope keeps tests/deploy well inside its time budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import OVERLAYS, compose_config, render_overlay


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """`kubectl kustomize deploy/k8s/overlays/<name>` for every overlay."""
    return {name: render_overlay(name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker compose config --format json` with the required variables set."""
    tmp: Path = tmp_path_factory.mktemp("compose")
    return compose_config(tmp)
