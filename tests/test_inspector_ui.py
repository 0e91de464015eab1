"""The memory inspector at ``/ui``, driven end to end in headless Chromium through Playwright.

A real uvicorn server (loopback, a thread) serves a small memory; the page is loaded,
a key typed, namespaces browsed, a search run and its diagnostics compared with the
API's, a chain drawn, a memory edited and one forgotten through the confirmation
dialog, each effect checked through the API. Screenshots go to ``tmp_path`` and are
checked to be non-blank PNGs. Needs Debian's ``chromium`` (``playwright install``
cannot download browsers here) and the ``playwright`` package; skipped without them.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from _server_support import live_server, small_memory
from fastapi.testclient import TestClient

from hippo_memory import HippoMemory
from hippo_memory.server import KeyStore, create_app
from hippo_memory.server._ui import ASSETS, CONTENT_SECURITY_POLICY

CHROMIUM = shutil.which("chromium")
STATIC = Path(__file__).resolve().parents[1] / "hippo_memory" / "server" / "static"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_PLAYWRIGHT = False

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or not HAVE_PLAYWRIGHT,
    reason="needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)",
)

STORY = (
    ("story-1", "The lighthouse keeper Ada lit the lamp at dusk"),
    ("story-2", "A storm wrecked the ferry near the harbour"),
    ("story-3", "Divers later found the ferry bell on the reef"),
)


class Tab(NamedTuple):
    """A page and what went wrong in it: uncaught exceptions and console errors."""

    page: Page
    page_errors: list[str]
    console_errors: list[str]

    def csp_violations(self) -> list[str]:
        return [text for text in self.console_errors if "Content Security Policy" in text]


class Served(NamedTuple):
    """A live server: its base URL, its memory and an admin and a tenant key."""

    url: str
    memory: HippoMemory
    admin: str
    alice: str


def _seed(memory: HippoMemory) -> None:
    memory.remember("Alice keeps a greyhound named Pixel", namespace=("users", "alice"), id="alice-dog")
    memory.remember("Alice works on the lighthouse project", namespace=("users", "alice", "work"), id="alice-work")
    for memory_id, text in STORY:
        memory.remember(text, namespace=("users", "alice", "story"), id=memory_id)
    memory.associate("story-1", "story-2")
    memory.associate("story-2", "story-3")
    memory.remember("Bob keeps a greyhound named Rex", namespace=("users", "bob"), id="bob-dog")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None or not HAVE_PLAYWRIGHT:
        pytest.skip("needs Debian's chromium (apt-get install chromium) and playwright (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    result = Tab(page, [], [])
    page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
    page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
    yield result
    context.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    keys = KeyStore(tmp_path / "mem.keys.json")
    admin, _ = keys.create("/", ["read", "write"], label="admin")
    alice, _ = keys.create("users/alice", ["read"], label="alice, read only")
    memory = small_memory()
    _seed(memory)
    with live_server(create_app(memory, keys=keys, mcp=False)) as url:
        yield Served(url, memory, admin, alice)
    memory.close()


def _api(served: Served, token: str, method: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.request(method, f"{served.url}/v1/{path}", json=body, headers=headers, timeout=30)


def _use_key(page: Page, token: str) -> None:
    page.fill("#api-key", token)
    page.click("#key-use")
    _settle(page)


def _settle(page: Page) -> None:
    """Wait until no API call of the page is in flight (a string predicate would be eval, which the CSP refuses)."""
    expect(page.locator('body[data-pending="0"]')).to_have_count(1)


def _ns(page: Page, namespace: str) -> Any:
    return page.locator(f'#ns-tree button.ns[data-ns="{namespace}"]')


def _check_screenshot(page: Page, path: Path) -> None:
    from PIL import Image

    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 600
        gray = image.convert("L")
        low, high = gray.getextrema()  # one band: two ints
        assert isinstance(low, int) and isinstance(high, int) and high - low > 100, "the screenshot is blank"
        assert len(gray.getcolors(maxcolors=1 << 16) or []) > 20, "too few shades for a drawn page"


# ---------------------------------------------------------------------------- without a browser
def test_page_and_assets_are_served_with_a_strict_policy() -> None:
    with TestClient(create_app(small_memory(), mcp=False)) as client:
        page = client.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
        assert '<script src="/ui/inspector.js" defer></script>' in page.text
        for asset in ASSETS[1:]:
            response = client.get(f"/ui/{asset.name}")
            assert response.status_code == 200 and response.headers["content-type"] == asset.media_type
        assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui"
        assert client.get("/ui/_ui.py").status_code == 404 and client.get("/ui/../_app.py").status_code == 404
        assert "/ui" not in json.dumps(client.get("/openapi.json").json()["paths"])
    with TestClient(create_app(small_memory(), mcp=False, ui=False)) as client:
        assert client.get("/ui").status_code == 404


def test_assets_are_self_contained() -> None:
    html = (STATIC / "inspector.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\son[a-z]+=", html) and "style=" not in html, "inline handler or style"
    for asset in ASSETS:
        text = (STATIC / asset.name).read_text().replace("http://www.w3.org/2000/svg", "")  # a name, not fetched
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), asset.name
    script = (STATIC / "inspector.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


def test_namespaces_answer_counts(served: Served) -> None:
    body = _api(served, served.admin, "POST", "namespaces", {}).json()
    assert dict(zip(map(tuple, body["namespaces"]), body["counts"], strict=True)) == {
        ("users", "alice"): 5,
        ("users", "alice", "story"): 3,
        ("users", "alice", "work"): 1,
        ("users", "bob"): 1,
    }
    assert _api(served, served.admin, "POST", "namespaces", {"max_depth": 1}).json()["counts"] == [6]


def test_serve_prints_the_inspector_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    import uvicorn

    from hippo_memory._cli import main

    server_log = logging.getLogger("hippo_memory.server")  # serve configures it: put it back afterwards
    for name in ("handlers", "level", "propagate"):
        monkeypatch.setattr(server_log, name, getattr(server_log, name))
    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: apps.append(app))
    serve = ["--encoder", "hashing:64", "serve", "--create", "--no-mcp", "--port", "8799", "--store"]
    assert main([*serve, str(tmp_path / "one")]) == 0
    assert "hippo-memory: memory inspector at http://127.0.0.1:8799/ui\n" in capsys.readouterr().err
    assert main([*serve, str(tmp_path / "two"), "--no-ui"]) == 0
    assert "inspector" not in capsys.readouterr().err
    for app, status in zip(apps, (200, 404), strict=True):
        with TestClient(app, base_url="http://127.0.0.1:8799") as client:  # its lifespan closes the memory
            assert client.get("/ui").status_code == status
            # serve on loopback answers loopback host names only (DNS rebinding)
            assert client.get("/ui", headers={"host": "testserver"}).status_code == 400


# ---------------------------------------------------------------------------- in Chromium
@needs_browser
def test_browse_search_chain_edit_and_forget(served: Served, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    page.goto(f"{served.url}/ui")
    _settle(page)
    # No key yet: the API's typed error is shown, not a blank page.
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-name")).to_have_text("AuthenticationError")

    _use_key(page, served.admin)
    expect(page.locator("#error")).to_be_hidden()
    expect(_ns(page, "").locator(".count")).to_have_text("6")
    expect(_ns(page, "users/alice").locator(".count")).to_have_text("5")
    expect(_ns(page, "users/alice/story").locator(".count")).to_have_text("3")
    expect(_ns(page, "users/bob").locator(".count")).to_have_text("1")

    # Browse one namespace.
    _ns(page, "users/alice/story").click()
    _settle(page)
    rows = page.locator("#memories-body tr")
    expect(rows).to_have_count(3)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.id)")) == {"story-1", "story-2", "story-3"}

    # Search inside users/alice: the hit and its per-stage diagnostics, as the API reports them.
    _ns(page, "users/alice").click()
    _settle(page)
    query = {"query": "storm ferry harbour", "namespace": ["users", "alice"], "k": 10}
    response = _api(served, served.admin, "POST", "recall", query)
    assert response.status_code == 200, response.text
    top = response.json()["hits"][0]
    assert top["memory"]["id"] == "story-2"
    page.fill("#search-query", "storm ferry harbour")
    page.click("#search-go")
    _settle(page)
    first = page.locator("#hits-body tr").first
    expect(first).to_have_attribute("data-id", "story-2")
    headers = page.locator("#hits-head th").all_inner_texts()
    for name in ("Score", "Similarity", "Dense rank", "BM25 rank", "Attention", "Cues", "Best cue"):
        assert name in headers, headers
    cells = dict(zip(headers, first.locator("td").all_inner_texts(), strict=True))
    diagnostics = top["diagnostics"]
    assert cells["Text"] == STORY[1][1]
    assert cells["Similarity"] == f"{diagnostics['similarity']:.3f}"
    assert cells["Dense rank"] == str(diagnostics["candidate_rank"] + 1)
    lexical = diagnostics["lexical_rank"]
    assert cells["BM25 rank"] == ("—" if lexical is None else str(lexical + 1))
    assert cells["Cues"] == str(diagnostics["cues_matched"])
    assert cells["Best cue"] == f"{diagnostics['best_cue']['kind']}: {diagnostics['best_cue']['text']}"
    assert 0.0 <= float(cells["Attention"]) <= 1.0 and float(cells["Score"]) > 0
    expect(page.locator("#hits-body tr")).to_have_count(5)  # the five memories under users/alice, not Bob's
    _check_screenshot(page, tmp_path / "search.png")

    # Follow the chain from a hit: one SVG node per hop, edges labelled, the stop reason drawn.
    page.fill("#search-query", "lighthouse keeper lamp")
    page.click("#search-go")
    _settle(page)
    page.locator('#hits-body tr[data-id="story-1"] button.chain').click()
    _settle(page)
    graph = page.locator("#chain-graph svg")
    expect(graph).to_be_visible()
    chain = _api(served, served.admin, "POST", "recall_chain", {"query": STORY[0][1], "hops": 5}).json()
    assert [hop["memory"]["id"] for hop in chain["hops"]] == ["story-1", "story-2", "story-3"]
    nodes = graph.locator("g.node")
    assert nodes.evaluate_all("gs => gs.map(g => g.dataset.id)") == ["story-1", "story-2", "story-3"]
    edges = graph.locator("g.edge:not(.to-stop) text").all_text_contents()
    assert len(edges) == 2 and all(label.startswith("strength ") for label in edges), edges
    expect(graph.locator("g.stop")).to_have_attribute("data-reason", chain["stop_reason"])
    expect(page.locator("#chain-summary")).to_contain_text(f"stopped: {chain['stop_reason']}")
    _check_screenshot(page, tmp_path / "chain.png")

    # Edit: open a node of the graph, change text and metadata, check through the API.
    nodes.nth(1).click()
    _settle(page)
    expect(page.locator("#detail-id")).to_have_text("story-2")
    page.fill("#edit-text", "A storm wrecked the old ferry near the harbour")
    page.fill("#edit-metadata", '{"mood": "stormy"}')
    page.click("#edit-save")
    _settle(page)
    expect(page.locator("#error")).to_be_hidden()
    edited = _api(served, served.admin, "GET", "memories/story-2").json()
    assert edited["text"] == "A storm wrecked the old ferry near the harbour"
    assert edited["metadata"] == {"mood": "stormy"}
    expect(nodes.nth(1).locator("title")).to_have_text(edited["text"])
    expect(nodes.nth(1).locator("text.memory-text")).to_have_text(edited["text"])
    expect(page.locator('#memories-body tr[data-id="story-2"] td.memory')).to_have_text(edited["text"])

    # Forget through the dialog: Cancel keeps the memory, Forget removes it.
    nodes.nth(2).click()
    _settle(page)
    expect(page.locator("#detail-id")).to_have_text("story-3")
    page.click("#detail-forget")
    dialog = page.locator("#confirm-forget")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text(STORY[2][1])
    page.click("#confirm-cancel")
    expect(dialog).to_be_hidden()
    assert _api(served, served.admin, "GET", "memories/story-3").status_code == 200
    page.click("#detail-forget")
    page.click("#confirm-ok")
    _settle(page)
    expect(page.locator("#detail-pane")).to_be_hidden()
    gone = _api(served, served.admin, "GET", "memories/story-3")
    assert gone.status_code == 404 and gone.json()["error"] == "MemoryNotFoundError"
    expect(_ns(page, "users/alice/story").locator(".count")).to_have_text("2")
    expect(nodes.nth(2)).to_have_class("node forgotten")
    expect(page.locator("#who")).to_have_text("5 memories")
    _check_screenshot(page, tmp_path / "forgotten.png")
    assert tab.page_errors == [] and tab.csp_violations() == []


@needs_browser
def test_a_key_bound_to_a_prefix_sees_only_its_namespaces(served: Served, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{served.url}/ui")
    _use_key(page, served.alice)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#who")).to_contain_text("key bound to users/alice")
    expect(_ns(page, "users/alice")).to_be_visible()
    expect(_ns(page, "users/bob")).to_have_count(0)
    expect(_ns(page, "").locator(".count")).to_have_text("5")
    page.fill("#search-query", "greyhound")
    page.click("#search-go")
    _settle(page)
    hits = _api(served, served.alice, "POST", "recall", {"query": "greyhound", "k": 10}).json()["hits"]
    pixel = next(hit["memory"]["id"] for hit in hits if "Pixel" in hit["memory"]["text"])
    expect(page.locator("#hits-body tr")).to_have_count(5)
    expect(page.locator("#hits-body")).to_contain_text("Pixel")
    expect(page.locator("body")).not_to_contain_text("Rex")
    # The key is read-only: forgetting is refused by the API, and the refusal is shown typed.
    page.locator(f'#hits-body tr[data-id="{pixel}"] td.memory').click()
    _settle(page)
    page.click("#detail-forget")
    page.click("#confirm-ok")
    _settle(page)
    expect(page.locator("#error-name")).to_have_text("PermissionDeniedError")
    expect(page.locator("#error-message")).to_contain_text("write")
    assert _api(served, served.alice, "GET", f"memories/{pixel}").status_code == 200
    # The key lives in sessionStorage: a reload keeps it.
    page.reload()
    _settle(page)
    expect(page.locator("#who")).to_contain_text("key bound to users/alice")
    assert tab.page_errors == [] and tab.csp_violations() == []


MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'


@needs_browser
def test_memory_text_is_shown_as_text_never_run(tab: Tab, tmp_path: Path) -> None:
    memory = small_memory()
    hostile = memory.remember(f"pwned {MARKUP}", namespace=("evil",), metadata={"note": MARKUP})
    for i in range(25):  # two pages of memories
        memory.remember(f"filler memory number {i}", namespace=("evil", "filler"))
    with live_server(create_app(memory, mcp=False)) as url:  # no keys: no key needed
        page = tab.page
        page.goto(f"{url}/ui")
        _settle(page)
        expect(page.locator("#error")).to_be_hidden()
        _ns(page, "evil").click()
        _settle(page)
        expect(page.locator("#memories-body tr")).to_have_count(20)
        expect(page.locator("#page-info")).to_have_text("1–20")
        page.click("#page-next")
        _settle(page)
        expect(page.locator("#memories-body tr")).to_have_count(6)
        expect(page.locator("#page-next")).to_be_disabled()
        row = page.locator(f'#memories-body tr[data-id="{hostile}"]')
        expect(row.locator("td.memory")).to_have_text(f"pwned {MARKUP}")

        page.fill("#search-query", "pwned")
        page.click("#search-go")
        _settle(page)
        expect(page.locator("#hits-body tr").first.locator("td.memory")).to_have_text(f"pwned {MARKUP}")
        page.locator("#hits-body tr").first.locator("button.chain").click()
        _settle(page)
        expect(page.locator("#chain-graph g.node title").first).to_have_text(f"pwned {MARKUP}")
        row.click()
        _settle(page)
        expect(page.locator("#edit-text")).to_have_value(f"pwned {MARKUP}")
        expect(page.locator("#detail-fields")).to_contain_text("evil")
        assert json.loads(page.locator("#edit-metadata").input_value()) == {"note": MARKUP}
        # Nothing became markup, nothing ran.
        assert page.locator("main img, main script, main b").count() == 0
        assert page.evaluate("window.__pwned") is None
        _check_screenshot(page, tmp_path / "markup.png")
    memory.close()
    assert tab.page_errors == [] and tab.csp_violations() == []


@needs_browser
def test_further_diagnostics_get_columns_of_their_own(tab: Tab) -> None:
    memory = small_memory()
    memory.remember("The ferry leaves at noon", namespace=("port",))
    with live_server(create_app(memory, mcp=False)) as url:
        page = tab.page

        def add_fields(route: Any) -> None:  # a newer server's diagnostics, one known and one not
            response = route.fetch()
            body = response.json()
            for hit in body["hits"]:
                hit["diagnostics"] |= {"fused": 1.25, "novel_stage": "<i>x</i>"}
            route.fulfill(response=response, json=body)

        page.route("**/v1/recall", add_fields)
        page.goto(f"{url}/ui")
        _settle(page)
        page.fill("#search-query", "ferry")
        page.click("#search-go")
        _settle(page)
        headers = page.locator("#hits-head th").all_inner_texts()
        assert headers[-3:] == ["Fused", "novel_stage", ""], headers
        cells = page.locator("#hits-body tr").first.locator("td").all_inner_texts()
        assert cells[-3:-1] == ["1.250", '"<i>x</i>"'], cells
    memory.close()
    assert tab.page_errors == [] and tab.csp_violations() == []
