"""Drop reasons are one vocabulary: unique, snake_case label values."""

from __future__ import annotations

import re

from shared.telemetry import DropReason


def test_reasons_are_unique_snake_case_labels() -> None:
    values = [reason.value for reason in DropReason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in values)
    assert DropReason("evicted") is DropReason.EVICTED
