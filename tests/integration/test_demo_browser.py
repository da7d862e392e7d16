"""The demo in a real browser: headless Chromium (Debian's) driven by Playwright.

`python -m demo` (what `make demo` runs: `hub serve --centrifugo -c demo/hub.yaml`) on free
ports; pages signed in as different users, each in its own browser context (its own
cookies), over centrifuge-js's JSON and protobuf builds. Screenshots of the key steps go
to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .demo_run import DemoRun
from .servers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
ARTIFACTS = ROOT / "test-artifacts"
VENDOR = ROOT / "demo" / "web" / "node_modules" / "centrifuge" / "dist"
#: Messages a user may send in 10 minutes in this test (the demo's default is 5 per 10 s).
LIMIT = 4
#: Seconds a connection JWT lives in this test: the JWT page refreshes it while we watch.
TOKEN_TTL = 3

expect.set_options(timeout=20_000)  # generous: the machine may be busy; never a timing assertion


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    env = {"DEMO_TOKEN_TTL": str(TOKEN_TTL), "DEMO_SEND_LIMIT": str(LIMIT), "DEMO_SEND_WINDOW": "600"}
    run = DemoRun(tmp_path_factory.mktemp("demo-browser"), env=env)
    run.start()
    try:
        yield run
    finally:
        run.stop()
        print(run.log_text())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "the browser tests need Debian's chromium at /usr/bin/chromium: `make browser` installs it"
        )
    if not (VENDOR / "centrifuge.protobuf.js").exists():
        pytest.fail(f"the demo page needs centrifuge-js in {VENDOR}: `make browser` installs it (npm ci)")
    with sync_playwright() as playwright:
        # Debian's chromium, never a downloaded one (no `playwright install`).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class User:
    """One signed-in page, in a browser context of its own; the WebSocket frames it got."""

    def __init__(self, browser: Browser, demo: DemoRun, name: str, query: str) -> None:
        self.name = name
        self.url = demo.url + query
        self.context = browser.new_context(viewport={"width": 1200, "height": 720})
        self.page: Page = self.context.new_page()
        self.frames: list[str | bytes] = []
        self.page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: self.frames.append(frame)))
        self.page.goto(self.url)
        self.page.fill("#name", name)
        self.page.click("button[type=submit]")
        self.connected()

    def connected(self) -> None:
        expect(self.page.locator("#state")).to_have_attribute("data-state", "connected")
        expect(self.page.locator(f'#presence li[data-user="{self.name}"]')).to_be_visible()

    def join(self, room: str) -> None:
        self.page.click(f'button.room[data-room="{room}"]')
        expect(self.page.locator("#room-title")).to_have_text(f"# {room}")

    def send(self, text: str) -> None:
        """Send and wait until the hub accepted it (the page clears the input)."""
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")
        expect(self.page.locator("#text")).to_have_value("")

    def sees(self, text: str, *, selector: str = "#messages li") -> None:
        expect(self.page.locator(selector, has_text=text)).to_be_visible()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"demo-{name}.png")

    def close(self) -> None:
        self.context.close()


def _connect_calls(demo: DemoRun) -> float:
    """Connect proxy calls the hub answered (every outcome), from the ops listener."""
    with urllib.request.urlopen(demo.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(v) for v in re.findall(r'^hub_proxy_calls_total\{kind="connect",[^}]*\} (\S+)$', text, re.M)
    )


def _connect_calls_reach(demo: DemoRun, count: float) -> float:
    """Wait until the hub's count of connect calls reaches ``count`` (heartbeats carry it); the count."""
    deadline = time.monotonic() + 20
    while (calls := _connect_calls(demo)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert calls >= count, (calls, count)
    return calls


def _assert_protocol(users: list[User], protocol: str) -> None:
    """Protobuf really is protobuf: every frame the pages got is binary (JSON: text)."""
    for user in users:
        kinds = {type(frame) for frame in user.frames}
        assert kinds == ({bytes} if protocol == "protobuf" else {str}), (user.name, kinds)


def test_a_failed_sign_in_shows_its_error(demo: DemoRun, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(demo.url)
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_have_text("Enter a name to sign in.")
        page.fill("#name", "two words")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("1 to 24 letters, digits")
        expect(page.locator("#name")).to_have_value("two words")
        page.screenshot(path=_artifact("sign-in-failed"))
        assert context.cookies() == []
    finally:
        context.close()


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
def test_two_users_chat_recover_and_export(demo: DemoRun, browser: Browser, protocol: str) -> None:
    query = f"?protocol={protocol}"
    before = _connect_calls(demo)
    ann = User(browser, demo, f"ann-{protocol}", query)
    bob = User(browser, demo, f"bob-{protocol}", query)
    _connect_calls_reach(demo, before + 2)  # cookie sign-in: on_connect read each cookie
    room = {"json": "python", "protobuf": "random"}[protocol]  # a room of its own per run
    try:
        expect(ann.page.locator("#protocol")).to_have_text(protocol)
        for user in (ann, bob):
            user.join(room)
        # Presence: both users, on both pages.
        for user in (ann, bob):
            for name in (ann.name, bob.name):
                expect(user.page.locator(f'#presence li[data-user="{name}"]')).to_be_visible()
        ann.send(f"hello @{bob.name}")
        bob.sees(f"hello @{bob.name}")
        # The mention reached bob's personal channel.
        bob.sees(f"{ann.name} mentioned you in #{room}", selector="#notifications li")
        bob.shot(f"{protocol}-1-chat")

        # Bob goes away; the leave event takes him off ann's presence list.
        bob.page.goto("about:blank")
        expect(ann.page.locator(f'#presence li[data-user="{bob.name}"]')).to_have_count(0)
        ann.send("while bob was away")
        # Back: the page subscribes from its saved position and Centrifugo recovers the gap.
        bob.page.goto(bob.url)
        bob.connected()
        expect(bob.page.locator("#room-title")).to_have_text(f"# {room}")
        expect(bob.page.locator("#recovery")).to_have_text(
            "recovered: true · 1 missed message since you left"
        )
        bob.sees("while bob was away", selector="#messages li.recovered")
        bob.sees(f"hello @{bob.name}", selector="#messages li:not(.recovered)")
        expect(ann.page.locator(f'#presence li[data-user="{bob.name}"]')).to_be_visible()
        bob.shot(f"{protocol}-2-recovered")

        # The export job: progress on ann's personal channel up to 100%, then the file.
        ann.page.click("#export")
        progress = ann.page.locator("#export-progress")
        expect(progress).to_have_attribute("data-progress", "100")
        seen = [int(p) for p in str(progress.get_attribute("data-seen")).split(",")]
        assert seen[0] == 0, seen
        assert seen[-1] == 100, seen
        assert seen == sorted(seen), seen
        assert len(seen) > 2, seen
        link = ann.page.locator("#export-link")
        expect(link).to_have_text(f"download #{room} (2 messages)")
        href = str(link.get_attribute("href"))
        exported = [
            line for line in ann.page.request.get(demo.url + href.lstrip("/")).text().splitlines() if line
        ]
        assert [_text(line) for line in exported] == [f"hello @{bob.name}", "while bob was away"]
        assert bob.page.request.get(demo.url + href.lstrip("/")).status == 404  # ann's alone
        ann.shot(f"{protocol}-3-export")

        # A refused room shows its error.
        bob.join("secret")
        expect(bob.page.locator("#room-error")).to_have_text(
            "cannot join #secret: room 'secret' is for staff only (403)"
        )
        bob.shot(f"{protocol}-4-refused-room")

        # The rate limit: ann sent 2 of her LIMIT; the one after the limit is refused.
        for i in range(LIMIT - 2):
            ann.send(f"flood {i}")
        ann.page.fill("#text", "one too many")
        ann.page.press("#text", "Enter")
        expect(ann.page.locator("#send-error")).to_contain_text(
            f"slow down: at most {LIMIT} messages in 600s"
        )
        expect(ann.page.locator("#text")).to_have_value("one too many")
        ann.sees(f"flood {LIMIT - 3}")
        expect(ann.page.locator("#messages li", has_text="one too many")).to_have_count(0)
        ann.shot(f"{protocol}-5-rate-limited")

        _assert_protocol([ann, bob], protocol)
    finally:
        ann.close()
        bob.close()


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
def test_jwt_sign_in_refreshes_its_token(demo: DemoRun, browser: Browser, protocol: str) -> None:
    before = _connect_calls(demo)
    cy = User(browser, demo, f"cy-{protocol}", f"?auth=jwt&protocol={protocol}")
    try:
        expect(cy.page.locator("#auth")).to_have_text("jwt")
        # Tokens live TOKEN_TTL seconds: getToken runs again before they expire.
        expect(cy.page.locator("#refreshes")).not_to_have_text("0")
        cy.connected()
        cy.send(f"{protocol}: still here after a refresh")
        cy.sees(f"{protocol}: still here after a refresh")
        # Centrifugo subscribed the token's user to their personal channel too: the export reports there.
        cy.page.click("#export")
        expect(cy.page.locator("#export-progress")).to_have_attribute("data-progress", "100")
        cy.shot(f"{protocol}-6-jwt")
        _assert_protocol([cy], protocol)
        # Signing out ends the session: the sign-in form, and no more tokens.
        cy.page.click("text=sign out")
        expect(cy.page.locator("#login")).to_be_visible()
        assert cy.page.request.post(demo.url + "centrifugo/token").status == 401
        # Centrifugo checked the token itself: the connect proxy was never called. The counts
        # reach /metrics with the workers' heartbeats: a cookie sign-in after it is the marker.
        dee = User(browser, demo, f"dee-{protocol}", f"?protocol={protocol}")
        dee.close()
        assert _connect_calls_reach(demo, before + 1) == before + 1
    finally:
        cy.close()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"demo-{name}.png"


def _text(line: str) -> Any:
    return json.loads(line)["text"]
