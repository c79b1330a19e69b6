"""Headless Chromium for the browser tests (selenium), skipped where Chromium or its driver is absent."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1100,1500",
)


def browser_paths() -> tuple[str, str]:
    chrome = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").is_file() else None)
    if chrome is None or driver is None:
        pytest.skip("headless browser test needs Chromium and its driver: apt-get install -y chromium chromium-driver")
    return chrome, driver


def headless_chrome(extra_flags: Sequence[str] = ()) -> Iterator[object]:
    """A Chrome driver with CHROME_FLAGS + ``extra_flags`` and the browser and network logs on,
    quit afterwards; for ``yield from`` in a fixture."""
    chrome, driver_path = browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the browser test's driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in (*CHROME_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the page did not get there in time")
