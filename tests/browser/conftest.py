"""Browser tests run isolated (see `netns`): the parent re-executes them once, together, in a fresh
network namespace, and replays the child's reports item by item.

All browser items of the session go to one child, so Python, Playwright and
the imports are paid once. Inside, each test builds the real stack (see
`stack`): nats-server, workers, ingest and the gateway as `sightwire`
processes, and Debian's Chromium, all on 127.0.0.1 of that namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.reports import TestReport

from tests.browser import netns

BROWSER_DIR = Path(__file__).parent


class _Isolation:
    """Parent side: reports of the isolated run by node id. Child side: the config to serialise with."""

    config: pytest.Config | None = None
    reports: dict[str, list[TestReport]] = {}
    output = ""


def _is_browser_item(item: pytest.Item) -> bool:
    return BROWSER_DIR in Path(str(item.path)).parents


def pytest_configure(config: pytest.Config) -> None:
    _Isolation.config = config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In the parent, the first browser item runs the whole isolated batch: give it the batch's time limit."""
    if netns.isolated():
        return
    for item in items:
        if _is_browser_item(item):
            item.add_marker(pytest.mark.timeout(netns.CHILD_TIMEOUT_S + 60))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if netns.isolated() or not _is_browser_item(item):
        return None  # run here, normally
    if item.nodeid not in _Isolation.reports:
        batch = [i.nodeid for i in item.session.items if _is_browser_item(i) and i.nodeid not in _Isolation.reports]
        reports, _Isolation.output = netns.run_isolated(item.config, batch)
        for nodeid in batch:
            _Isolation.reports[nodeid] = reports.get(nodeid, [])
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in _Isolation.reports[item.nodeid] or [netns.missing_report(item, _Isolation.output)]:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_runtest_logreport(report: TestReport) -> None:
    if netns.isolated() and _Isolation.config is not None:
        netns.write_report(_Isolation.config, report)


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    """`artifacts/browser/` at the repo root (git-ignored): screenshots worth keeping after the run."""
    path = BROWSER_DIR.parent.parent / "artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    yield path
