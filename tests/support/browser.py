"""Real Chromium for tests: Debian's /usr/bin/chromium driven by Playwright, headless.

Never `playwright install`: CI installs Debian's chromium package, and tests
point Playwright at it with `executable_path`. The flags keep the browser
quiet and local (no background network, updates, sync or QUIC), so a test
talks only to the servers it started on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


@asynccontextmanager
async def chromium(extra_args: tuple[str, ...] = ()) -> AsyncIterator[Browser]:
    """A headless Chromium, closed (with its processes) when the block ends."""
    assert CHROMIUM.exists(), f"{CHROMIUM} missing: install Debian's chromium package"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def browser_page(base_url: str | None = None, extra_args: tuple[str, ...] = ()) -> AsyncIterator[Page]:
    """One page in a fresh context; console errors ("text at url") are kept on `page.console_errors`."""
    async with chromium(extra_args) as browser:
        context: BrowserContext = await browser.new_context(base_url=base_url)
        page = await context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda msg: errors.append(f"{msg.text} at {msg.location.get('url')}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.console_errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            await context.close()
