"""examples/counter.html in headless Chromium against the bridge: data and photo shown, screenshot taken."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from host.bridge import EXAMPLE_PAGE, BackgroundBridge, Bridge
from host.standard import SSCardDriver

from tests.service.browser import chromium_path, open_page
from tests.support.prereq import missing


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Every test here drives headless Chromium."""
    if chromium_path() is None:
        missing("chromium not installed (Debian package chromium; `make setup` installs it)")

DONE = "['done', 'error'].includes(document.body.dataset.state)"


def text(page, element_id: str) -> str:
    return page.evaluate(f"document.getElementById({element_id!r}).textContent")


def assert_refused(page) -> None:
    """The page's call ended in its error state without reaching the bridge, and shows no holder."""
    page.wait_for(DONE)
    assert page.evaluate("document.body.dataset.state") == "error"
    assert "cannot reach the bridge" in text(page, "status") and text(page, "name") == ""


def keep(png: Path) -> None:
    """Copy the screenshot where a person can look at it ($SSCARD_SCREENSHOTS), if asked."""
    target = os.environ.get("SSCARD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


@contextlib.contextmanager
def page_after_a_read(driver: SSCardDriver) -> Iterator:
    """The counter page, served by a bridge on ``driver``, once its automatic read has ended well."""
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/?auto=1#token={bg.bridge.token}") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "done", text(page, "status")
            yield page


def test_counter_page_shows_holder_and_photo(images, tmp_path):
    driver = SSCardDriver(images.terminal(images.card("gen3")), device_number="SIM0001")
    with page_after_a_read(driver) as page:
        assert "token" not in page.evaluate("location.href")      # taken out of the address bar
        assert text(page, "name") == "林婉婷"
        assert text(page, "ssn") == "44030419920721452X"
        assert text(page, "card_number") == "B44030002"
        assert text(page, "region").startswith("440300")
        assert text(page, "version") == "3.00"
        assert text(page, "terminal") == "440300000009"
        pan = driver.iReadBankCardNo(3)[1].split("|")[0]
        assert text(page, "bank") == pan[:6] + "*" * (len(pan) - 10) + pan[-4:]   # masked, PCI DSS 3.3
        assert page.evaluate("document.getElementById('photo').naturalWidth") > 0
        png = page.screenshot(tmp_path / "counter-page.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    keep(png)


def test_counter_page_says_no_photo_for_a_card_without_one(images, tmp_path):
    driver = SSCardDriver(images.terminal(images.card("gen2", photo=b"")))
    with page_after_a_read(driver) as page:
        assert text(page, "name") == "陈晓明"
        assert text(page, "photo-note") == "无照片 no photo"
        assert page.evaluate("getComputedStyle(document.getElementById('photo-empty')).display") != "none"
        assert page.evaluate("getComputedStyle(document.getElementById('photo')).display") == "none"
        keep(page.screenshot(tmp_path / "counter-page-no-photo.png"))


def test_counter_page_says_so_for_a_card_without_the_bank_application(images, tmp_path):
    driver = SSCardDriver(images.terminal(images.card("gen2", bank=False)))
    with page_after_a_read(driver) as page:
        assert text(page, "name") == "陈晓明"
        assert text(page, "bank") == "无金融功能 no bank application"


def test_counter_page_reports_a_missing_card(images, tmp_path):
    term = images.terminal(images.card("gen2"))
    term.card_reader.remove()
    with BackgroundBridge(Bridge(SSCardDriver(term), page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/?auto=1#token={bg.bridge.token}") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "error"
            assert "-2" in text(page, "status")
            keep(page.screenshot(tmp_path / "counter-page-no-card.png"))


def test_counter_page_without_the_token_is_refused(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/?auto=1#token={'0' * 64}") as page:
            assert_refused(page)


# --- pages from elsewhere: another origin, a sandboxed iframe (Origin: null) -----------------------------------------
# probe.html connects to the bridge named in its fragment (#ws=…&token=…), asks for iReadCardBas and reports what
# happened, with its own origin, to its parent (when framed) and in <body data-result>.
PROBE = """<!DOCTYPE html><html><body><script>
const p = new URLSearchParams(location.hash.slice(1));
const url = new URL(p.get("ws"));
url.searchParams.set("token", p.get("token"));
let done = false;
function report(outcome, output) {
  if (done) return;
  done = true;
  const result = JSON.stringify({ origin: self.origin, outcome, output });
  document.body.dataset.result = result;
  if (parent !== self) parent.postMessage(result, "*");
}
const ws = new WebSocket(url);
ws.onopen = () => ws.send(JSON.stringify({ function: "iReadCardBas", iType: 3 }));
ws.onmessage = (ev) => { const r = JSON.parse(ev.data); report("answered " + r.code, r.output); };
ws.onerror = () => report("refused", "");
ws.onclose = () => report("refused", "");
</script></body></html>
"""
# frame.html holds probe.html in an iframe sandboxed without allow-same-origin: its origin is opaque ("null").
FRAME = """<!DOCTYPE html><html><body><script>
addEventListener("message", (ev) => { document.body.dataset.result = ev.data; });
const frame = document.createElement("iframe");
frame.sandbox = "allow-scripts";
frame.src = "probe.html" + location.hash;
document.body.appendChild(frame);
</script></body></html>
"""
RESULT = "document.body.dataset.result"


@pytest.fixture
def site(tmp_path):
    """A web site on another local port (its own origin) serving the counter page and the probes."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(EXAMPLE_PAGE, root / "counter.html")
    (root / "probe.html").write_text(PROBE, encoding="utf-8")
    (root / "frame.html").write_text(FRAME, encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def probe(page) -> dict:
    return json.loads(page.wait_for(RESULT) or "{}")


def test_a_page_from_another_origin_is_refused_even_with_the_token(images, site):
    driver = SSCardDriver(images.terminal(images.card("gen3")))
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        with open_page(f"{site}/counter.html?auto=1&ws={bg.base_url}#token={bg.bridge.token}") as page:
            assert_refused(page)
        with open_page(f"{site}/probe.html#ws={bg.base_url}&token={bg.bridge.token}") as page:
            assert probe(page) == {"origin": site, "outcome": "refused", "output": ""}


def test_a_named_origin_with_the_token_works(images, site):
    driver = SSCardDriver(images.terminal(images.card("gen3")), device_number="SIM0001")
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE, extra_origins=(site,))) as bg:
        with open_page(f"{site}/counter.html?auto=1&ws={bg.base_url}#token={bg.bridge.token}") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "done", text(page, "status")
            assert text(page, "name") == "林婉婷"
        with open_page(f"{site}/probe.html#ws={bg.base_url}&token={'0' * 64}") as page:
            assert probe(page)["outcome"] == "refused"                  # the named origin still needs the token


def test_a_sandboxed_iframe_is_refused(images, site):
    driver = SSCardDriver(images.terminal(images.card("gen3")))
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE, extra_origins=(site,))) as bg:
        with open_page(f"{site}/frame.html#ws={bg.base_url}&token={bg.bridge.token}") as page:
            # framed by an allowed page and given the token, the opaque-origin frame is still refused
            assert probe(page) == {"origin": "null", "outcome": "refused", "output": ""}
        with open_page(f"{site}/probe.html#ws={bg.base_url}&token={bg.bridge.token}") as page:
            result = probe(page)                                        # the same probe, not framed: answered
            assert result["outcome"] == "answered 0" and "林婉婷" in result["output"]


def test_null_is_accepted_when_named(images, site):
    driver = SSCardDriver(images.terminal(images.card("gen3")))
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE, extra_origins=("null",))) as bg:
        with open_page(f"{site}/frame.html#ws={bg.base_url}&token={bg.bridge.token}") as page:
            result = probe(page)
            assert (result["origin"], result["outcome"]) == ("null", "answered 0")


@pytest.mark.parametrize("allowed, state", [((), "error"), (("null",), "done")])
def test_the_counter_page_as_a_file_needs_null_named(images, allowed, state):
    driver = SSCardDriver(images.terminal(images.card("gen3")))
    with BackgroundBridge(Bridge(driver, extra_origins=allowed)) as bg:
        with open_page(f"{EXAMPLE_PAGE.as_uri()}?auto=1&ws={bg.base_url}#token={bg.bridge.token}") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == state, text(page, "status")


# --- PIN: the page's own pad (no PIN pad on the reader), and a reader's PIN pad ----------------------------------------
def click(page, element_id: str) -> None:
    # the counter page, loaded and its script run (not the blank page Chromium starts with)
    page.wait_for(f"document.readyState === 'complete' && document.getElementById({element_id!r}) !== null")
    page.evaluate(f"document.getElementById({element_id!r}).click()")


def press(page, keys: str) -> None:
    """Press keys on the page's pad: digits and OK/CANCEL/BACKSPACE/CLEAR by their data-key."""
    from protocols.pinpad import parse_keys
    for key in parse_keys(keys):
        page.evaluate(f"document.querySelector('#pin-keys [data-key=\"{key}\"]').click()")


def test_counter_page_asks_the_pin_on_its_own_pad(images, tmp_path):
    driver = SSCardDriver(images.terminal(images.card("gen2")))       # no PIN pad: the bridge asks the page
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/#token={bg.bridge.token}") as page:
            click(page, "verify-pin")
            assert page.wait_for("document.body.dataset.pin === 'asking'")
            press(page, "1234 BS 456")
            assert text(page, "pin-dots") == "●" * 6                   # masked; the digits stay in the page
            png = page.screenshot(tmp_path / "counter-page-pin.png")
            press(page, "OK")
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "done", text(page, "status")
            assert "PIN verified" in text(page, "status") and page.evaluate("document.body.dataset.pin") == ""

            click(page, "verify-pin")                                  # the keyboard works too
            assert page.wait_for("document.body.dataset.pin === 'asking'")
            for key in "111111":
                page.evaluate(f"document.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}'}}))")
            page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "error"
            assert "(-51)" in text(page, "status") and "剩余 2 次" in text(page, "status")

            click(page, "verify-pin")
            assert page.wait_for("document.body.dataset.pin === 'asking'")
            press(page, "12 CANCEL")
            page.wait_for(DONE)
            assert "(-31)" in text(page, "status")

            click(page, "change-pin")                                  # current, new, new again
            for keys in ("123456 OK", "246810 OK", "246810 OK"):
                assert page.wait_for("document.body.dataset.pin === 'asking'")
                press(page, keys)
            page.wait_for(DONE)
            assert "PIN changed" in text(page, "status"), text(page, "status")
    assert driver.contact.card_reader.device.image.pin == "246810"
    keep(png)


def test_counter_page_gives_up_when_nobody_types(images):
    driver = SSCardDriver(images.terminal(images.card("gen2")))
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE, pin_timeout=1)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/#token={bg.bridge.token}") as page:
            click(page, "verify-pin")
            page.wait_for(DONE)
            assert "(-32)" in text(page, "status") and page.evaluate("document.body.dataset.pin") == ""


def test_counter_page_points_at_the_readers_pin_pad(images, tmp_path):
    from firmware_sim.card_os import CardOS
    from firmware_sim.psam import PsamOS
    from hardware.keypad import play
    from hardware.pinpad_serve import serve_pinpad
    from host.spec import open_terminal
    from protocols.pinpad import parse_keys
    card = CardOS.from_file(images.card("gen2"))
    bench = serve_pinpad(card, PsamOS.from_file(images.psam("440100")), str(tmp_path / "pad"), str(tmp_path / "psam"))
    driver = SSCardDriver(open_terminal(bench.spec))
    try:
        with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
            with open_page(f"http://127.0.0.1:{bg.port}/#token={bg.bridge.token}") as page:
                click(page, "verify-pin")
                assert page.wait_for("document.body.dataset.pin === 'pad'")
                assert "PIN pad" in text(page, "pin-pad-note")
                keep(page.screenshot(tmp_path / "counter-page-pin-pad.png"))
                assert play(bench.keypad, parse_keys("123456 OK"), prompt_timeout=30)   # the holder, on the pad
                page.wait_for(DONE)
                assert page.evaluate("document.body.dataset.state") == "done", text(page, "status")
                assert page.evaluate("document.body.dataset.pin") == ""
    finally:
        bench.close()
    assert card.image.pin_tries_left == 3
