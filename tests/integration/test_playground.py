"""GET / serves the playground (HTML + JS + CSS from service/static/); in headless Chromium,
clicking "I prefer this one" posts feedback and the weight bars move."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1100,1500",
)


def test_root_serves_the_playground_page(client: httpx.Client):
    reply = client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in reply.headers["content-security-policy"]
    assert '<script src="/static/playground.js">' in reply.text
    assert "http://" not in reply.text and "https://" not in reply.text  # no CDN


@pytest.mark.parametrize("name, media", [("playground.js", "text/javascript"), ("playground.css", "text/css")])
def test_static_assets_are_served_with_their_media_type(client: httpx.Client, name: str, media: str):
    reply = client.get(f"/static/{name}")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith(media)
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2Fconfig.py", "/static/%2E%2E%2Fapp.py",
                                  "/static/playground.py", "/static/.hidden.css"])
def test_unknown_or_escaping_asset_paths_are_404(client: httpx.Client, path: str):
    assert client.get(path).status_code == 404


def browser_paths() -> tuple[str, str]:
    chrome = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").is_file() else None)
    if chrome is None or driver is None:
        pytest.skip("headless browser test needs Chromium and its driver: apt-get install -y chromium chromium-driver")
    return chrome, driver


@pytest.fixture()
def browser() -> Iterator[object]:
    chrome, driver_path = browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the browser test's driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
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


def shown_weights(driver) -> list[float]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#weights [data-head]'), r => Number(r.dataset.weight));")


def text_of(driver, element_id: str) -> str:
    return driver.execute_script(f"return document.getElementById('{element_id}').textContent;")


def test_clicking_prefer_in_the_browser_moves_the_weights(browser, server: str, tmp_path: Path):
    driver = browser
    driver.get(server + "/")
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === 'true';"))
    k = len(httpx.get(server + "/v1/model", timeout=10).json()["head_descriptions"])
    assert not driver.execute_script("return document.getElementById('status').classList.contains('error');"), \
        text_of(driver, "status")
    before = shown_weights(driver)
    assert len(before) == k and sum(before) == pytest.approx(1.0, abs=1e-4)
    assert text_of(driver, "weights-source") == "prior" and text_of(driver, "n-feedback") == "0"
    p_before = float(text_of(driver, "p-first").rstrip("%"))

    driver.find_element("id", "prefer-0").click()
    wait_for(lambda: text_of(driver, "n-feedback") == "1" and text_of(driver, "weights-source") == "user")
    after = shown_weights(driver)
    assert max(abs(a - b) for a, b in zip(after, before)) > 1e-3  # the bars moved
    assert sum(after) == pytest.approx(1.0, abs=1e-4)
    assert len(driver.find_elements("css selector", "#weights .bar-before")) == k  # ticks where the bars were
    assert float(text_of(driver, "p-first").rstrip("%")) > p_before  # A is now more likely preferred

    user = driver.execute_script("return document.getElementById('user-id').value;")
    driver.find_element("id", "prefer-0").click()
    wait_for(lambda: text_of(driver, "n-feedback") == "2")
    assert httpx.get(f"{server}/v1/users/{user}", timeout=10).json()["n_feedback"] == 2
    assert shown_weights(driver) != pytest.approx(after, abs=1e-6)
    driver.save_screenshot(str(tmp_path / "playground.png"))  # for a person to look at; never in the repo
