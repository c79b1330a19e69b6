"""GET / serves the playground (HTML + JS + CSS from service/api/static/). In headless Chromium, with
the browser console read after every flow: a new user, scoring, labels (weights move, one history
column per label, the next suggested pair), switching users (labels given follow the user),
forgetting a user, all with 0 console errors; the heads are named by their head cards; empty
texts are refused in the page and a server's problem+json detail is shown."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import torch

from model.checkpoint import load_checkpoint
from model.data import PreferencePair
from model.fitting import PairTensors
from model.head_cards import build_head_cards, write_head_cards
from evaluation.service_process import ServiceProcess
from tests.helpers import TEST_REDIS_URL, make_tiny_checkpoint
from tests.integration.browser import headless_chrome, wait_for
from tests.integration.conftest import delete_prefix

pytestmark = pytest.mark.slow

def test_root_serves_the_playground_page(client: httpx.Client):
    reply = client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in reply.headers["content-security-policy"]
    assert '<script src="/static/playground.js">' in reply.text
    assert "http://" not in reply.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in reply.text  # no CDN


@pytest.mark.parametrize("name, media", [("playground.js", "text/javascript"),
                                         ("playground-view.js", "text/javascript"), ("playground.css", "text/css")])
def test_static_assets_are_served_with_their_media_type(client: httpx.Client, name: str, media: str):
    reply = client.get(f"/static/{name}")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith(media)
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2Fconfig.py", "/static/%2E%2E%2Fapp.py",
                                  "/static/playground.py", "/static/.hidden.css"])
def test_unknown_or_escaping_asset_paths_are_404(client: httpx.Client, path: str):
    assert client.get(path).status_code == 404


def test_a_checkpoint_without_head_cards_serves_an_empty_list(client: httpx.Client):
    card = client.get("/v1/model").json()
    assert card["head_cards"] == [] and len(card["head_descriptions"]) == card["num_heads"]


# ---- a server whose checkpoint has head cards ---------------------------------------------------

def synthetic_cards_data(dim: int, n: int = 40) -> tuple[PairTensors, list[str], list[PreferencePair], PairTensors]:
    """Validation pairs of two groups preferring two random directions; training pairs with texts."""
    gen = torch.Generator().manual_seed(1)
    directions = torch.randn(2, dim, generator=gen)
    rejected = torch.randn(2 * n, dim, generator=gen)
    chosen = rejected + directions.repeat(n, 1)
    groups = ["ann", "bob"] * n
    val = PairTensors(chosen, rejected, torch.zeros_like(chosen))
    texts = [f"reply {i}: " + "word " * (i % 7) for i in range(2 * n)]
    pairs = [PreferencePair("p", texts[i], texts[i + n], "", "synthetic") for i in range(n)]
    train = PairTensors(rejected[:n] + directions[0], rejected[n:], torch.zeros(n, dim))
    return val, groups, pairs, train


@pytest.fixture(scope="module")
def carded_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = make_tiny_checkpoint(tmp_path_factory.mktemp("carded") / "tiny", version="tiny-cards")
    model, config = load_checkpoint(directory)
    val, groups, pairs, train = synthetic_cards_data(config.dim)
    write_head_cards(directory, build_head_cards(model, val, groups, pairs, train))
    return directory


@pytest.fixture(scope="module")
def carded_server(carded_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prefix = f"test-play-{uuid.uuid4().hex[:8]}"
    service = ServiceProcess(tmp_path_factory.mktemp("logs") / "carded.log", checkpoint=carded_checkpoint,
                             redis_url=TEST_REDIS_URL, key_prefix=prefix, max_wait_ms=5, torch_threads=2)
    try:
        with service:
            yield service.url
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)


def test_the_model_card_serves_the_checkpoint_head_cards(carded_server: str, carded_checkpoint: Path):
    card = httpx.get(carded_server + "/v1/model", timeout=30).json()
    stored = json.loads((carded_checkpoint / "config.json").read_text())["head_cards"]
    assert card["head_cards"] == stored and len(stored) == card["num_heads"]
    assert {c["best_for"][0]["group"] for c in stored if c["best_for"]} <= {"ann", "bob"}


# ---- the browser ------------------------------------------------------------------------------------

@pytest.fixture()
def browser() -> Iterator[object]:
    yield from headless_chrome()


def js(driver, script: str):
    return driver.execute_script(script)


def text_of(driver, element_id: str) -> str:
    return js(driver, f"return document.getElementById('{element_id}').textContent;")


def value_of(driver, element_id: str) -> str:
    return js(driver, f"return document.getElementById('{element_id}').value;")


def all_of(driver, selector: str, expression: str) -> list:
    """``expression`` of ``e``, for every element matching ``selector``."""
    return js(driver, f"return Array.from(document.querySelectorAll('{selector}'), e => {expression});")


def shown_weights(driver) -> list[float]:
    return all_of(driver, "#weights [data-head]", "Number(e.dataset.weight)")


def history_columns(driver) -> list[int]:
    return all_of(driver, "#history .history-column", "Number(e.dataset.n)")


def status(driver) -> tuple[str, bool]:
    is_error = js(driver, "return document.getElementById('status').classList.contains('error');")
    return text_of(driver, "status"), is_error


def settle(driver, condition: Callable[[], object] = lambda: True) -> None:
    """Wait until the page's action is over and ``condition`` holds."""
    wait_for(lambda: js(driver, "return document.body.dataset.busy === 'false';") and condition())


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def requested_paths(driver) -> list[str]:
    paths = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            paths.append(httpx.URL(message["params"]["request"]["url"]).path)
    return paths


def open_page(driver, server: str) -> None:
    driver.get(server + "/")
    wait_for(lambda: js(driver, "return document.body.dataset.ready === 'true';"))
    settle(driver)


def click(driver, element_id: str) -> None:
    driver.find_element("id", element_id).click()


def type_user(driver, user: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element("id", "user-id")
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(user, Keys.TAB)  # leaving the field switches to the user


def test_playground_flows_show_head_cards_and_leave_no_console_error(browser, carded_server: str):
    driver = browser
    card = httpx.get(carded_server + "/v1/model", timeout=30).json()
    names = [c["name"] for c in card["head_cards"]]
    open_page(driver, carded_server)
    first = value_of(driver, "user-id")
    assert status(driver) == ("Ready: edit the texts, score them, and say which response you prefer.", False)

    # head cards: the list, and the weight bars named after them with the summary on hover
    assert all_of(driver, "#head-cards .head-name", "e.textContent") == names
    labels = all_of(driver, "#weights .bar-label", "[e.firstChild.nextSibling.textContent, e.title]")
    assert [name for name, _ in labels] == names
    assert all(title == f"{c['name']}: {c['summary']}" for (_, title), c in zip(labels, card["head_cards"]))

    # a new user: prior weights, 0 labels, no history, a suggested pair, and no GET of its (absent) state
    assert text_of(driver, "n-feedback") == "0" and text_of(driver, "weights-source") == "prior"
    assert history_columns(driver) == [] and js(driver, "return document.getElementById('suggestion').dataset.pair;")
    assert f"/v1/users/{first}" not in requested_paths(driver)
    click(driver, "new-user")
    settle(driver, lambda: value_of(driver, "user-id") != first)
    user = value_of(driver, "user-id")
    assert text_of(driver, "n-feedback") == "0"

    click(driver, "score")
    settle(driver, lambda: status(driver)[0] == "Scored.")
    before = shown_weights(driver)
    assert len(before) == card["num_heads"] and sum(before) == pytest.approx(1.0, abs=1e-4)

    # labels: the bars move, one history column each, labels given counts, the next pair is suggested
    click(driver, "prefer-0")
    settle(driver, lambda: text_of(driver, "n-feedback") == "1")
    assert text_of(driver, "weights-source") == "user" and history_columns(driver) == [1]
    assert max(abs(a - b) for a, b in zip(shown_weights(driver), before)) > 1e-3
    assert status(driver)[0].startswith("Label 1 applied")
    click(driver, "prefer-1")
    settle(driver, lambda: history_columns(driver) == [1, 2])
    stored = httpx.get(f"{carded_server}/v1/users/{user}", timeout=10).json()
    heights = all_of(driver, "#history .history-column:last-child rect", "Number(e.getAttribute('height'))")
    assert [h / sum(heights) for h in heights] == pytest.approx(stored["base_weights"], abs=1e-3)

    # the suggested pair goes into A and B
    pair = [int(i) for i in js(driver, "return document.getElementById('suggestion').dataset.pair;").split(",")]
    candidates = [line.strip() for line in value_of(driver, "candidates").splitlines()]
    click(driver, "use-suggestion")
    settle(driver, lambda: status(driver)[0].startswith("The suggested pair"))
    assert [value_of(driver, f"response-{i}") for i in (0, 1)] == \
        [candidates[pair[0]], candidates[pair[1]]]

    # switching users: labels given follow the user (a fresh one, then back)
    other = f"play-other-{uuid.uuid4().hex[:6]}"
    type_user(driver, other)
    settle(driver, lambda: status(driver)[0] == f"Switched to {other}.")
    assert text_of(driver, "n-feedback") == "0" and history_columns(driver) == []
    type_user(driver, user)
    settle(driver, lambda: status(driver)[0] == f"Switched to {user}.")
    assert text_of(driver, "n-feedback") == "2" and history_columns(driver) == [2]

    # reset: the user is forgotten
    click(driver, "forget-user")
    settle(driver, lambda: status(driver)[0].startswith("Forgot"))
    assert text_of(driver, "n-feedback") == "0" and text_of(driver, "weights-source") == "prior"
    assert httpx.get(f"{carded_server}/v1/users/{user}", timeout=10).status_code == 404
    assert console_errors(driver) == []


def test_empty_texts_are_refused_in_the_page_and_server_problems_are_shown(browser, carded_server: str):
    driver = browser
    open_page(driver, carded_server)
    driver.get_log("performance")  # drop the page load's requests
    js(driver, "document.getElementById('prompt').value = '   ';")
    click(driver, "score")
    settle(driver)
    assert status(driver) == ("Write the prompt first: it is empty.", True)
    js(driver, "document.getElementById('prompt').value = 'Hi'; document.getElementById('response-1').value = '';")
    click(driver, "prefer-0")
    settle(driver)
    assert status(driver) == ("Write response B first: it is empty.", True)
    assert js(driver, "return document.getElementById('response-1').getAttribute('aria-invalid');") == "true"
    assert not [p for p in requested_paths(driver) if p.startswith("/v1/")]  # nothing was sent
    assert console_errors(driver) == []

    limit = httpx.get(carded_server + "/v1/model", timeout=30).json()["limits"]["max_text_chars"]
    js(driver, f"document.getElementById('response-1').value = 'x'.repeat({limit + 1});")
    click(driver, "score")
    settle(driver)
    message, is_error = status(driver)
    assert is_error and message.startswith("Request over the size limits (HTTP 413): ") and str(limit) in message
    assert "[request " in message
    assert all("413" in line for line in console_errors(driver))  # only the browser's own line for the 413


def test_an_old_checkpoint_names_heads_by_their_descriptions_and_labels_move_the_weights(browser, server: str):
    driver = browser
    open_page(driver, server)
    descriptions = httpx.get(server + "/v1/model", timeout=10).json()["head_descriptions"]
    assert all_of(driver, "#head-cards .head-name", "e.textContent") == [d.split(": ")[0] for d in descriptions]
    before = shown_weights(driver)
    assert len(before) == len(descriptions) and text_of(driver, "weights-source") == "prior"
    p_before = float(text_of(driver, "p-first").rstrip("%"))
    click(driver, "prefer-0")
    settle(driver, lambda: text_of(driver, "n-feedback") == "1")
    assert len(driver.find_elements("css selector", "#weights .bar-before")) == len(descriptions)
    assert float(text_of(driver, "p-first").rstrip("%")) > p_before  # A is now more likely preferred
    assert console_errors(driver) == []
