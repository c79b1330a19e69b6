"""/docs works offline: its JS/CSS are bundled (fastapi-offline's package data), served by the
service itself. Headless Chromium with every host but 127.0.0.1 unresolvable and a dead proxy
opens it: the operations render, no request leaves the server's origin (read from the browser's
network log), and the console shows no error. /redoc is not served (ReDoc fetches a CDN logo)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.browser import headless_chrome, wait_for

pytestmark = pytest.mark.slow

OFFLINE_FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no name resolves: no CDN, no fonts
    "--proxy-server=http://127.0.0.1:9",  # anything that still tries goes to a closed port (loopback bypasses it)
)
LOCAL_SCHEMES = ("data:", "blob:", "about:")


@pytest.fixture()
def offline_browser() -> Iterator[object]:
    yield from headless_chrome(OFFLINE_FLAGS)


def requested_urls(driver: object) -> list[str]:
    """Every URL the page asked the network for, from the DevTools performance log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: object) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_docs_page_points_at_bundled_assets_only(client: httpx.Client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        reply = client.get(f"/docs-assets/{asset}")
        assert reply.status_code == 200 and len(reply.content) > 1000, asset


def test_redoc_is_not_served(client: httpx.Client):
    assert client.get("/redoc").status_code == 404


def test_swagger_ui_renders_the_operations_offline(server: str, offline_browser: object):
    from selenium.webdriver.common.by import By

    driver = offline_browser
    driver.get(f"{server}/docs")
    blocks = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".opblock"))
    summaries = " ".join(b.text for b in blocks)
    assert "/v1/score" in summaries and "/v1/feedback" in summaries
    # the error contract shows: expanding /v1/score lists its problem responses
    score = next(b for b in blocks if "/v1/score" in b.text and "batch" not in b.text)
    score.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    codes = wait_for(lambda: [c.text for c in driver.find_elements(By.CSS_SELECTOR, ".response-col_status")])
    assert {"401", "413", "422", "429", "503"} <= set(codes)
    urls = requested_urls(driver)
    assert urls, "the network log recorded nothing"
    assert [u for u in urls if not u.startswith((server, *LOCAL_SCHEMES))] == []
    assert console_errors(driver) == []

