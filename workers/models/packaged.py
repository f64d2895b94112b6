"""The model files shipped inside the package (workers/models/default), found without I/O side effects.

`importlib.resources` rather than `__file__` arithmetic: it is the supported way
to reach package data, and on an ordinary install it yields a real path that
OpenVINO can read.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "workers.models"
FOLDER = "default"


def path_of(filename: str) -> Path | None:
    """The packaged copy of `filename`, or None if the package does not ship it."""
    entry = resources.files(PACKAGE) / FOLDER / filename
    if not entry.is_file():
        return None
    path = Path(str(entry))
    return path if path.is_file() else None
