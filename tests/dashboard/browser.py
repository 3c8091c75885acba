"""Debian's Chromium under Playwright, shared by the browser tests and scripts/screenshots.

Never a browser that Playwright downloads: `apt-get install chromium` provides it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.skip_policy import skip_reason

CHROMIUM = "/usr/bin/chromium"
# Headless as root, and quiet: without the background-networking flags Chromium keeps
# dialing Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not shutil.which(CHROMIUM):
        return skip_reason(f"{CHROMIUM} is not installed", install="apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return skip_reason("playwright is not installed", install="pip install -e '.[test]'")
    return None


@contextmanager
def chromium_page(width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A fresh page in a fresh profile; closed with its browser afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
