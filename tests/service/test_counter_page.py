"""examples/counter.html in headless Chromium against the bridge: data and photo shown, screenshot taken."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from host.serve import EXAMPLE_PAGE, BackgroundBridge, Bridge
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


def keep(png: Path) -> None:
    """Copy the screenshot where a person can look at it ($SSCARD_SCREENSHOTS), if asked."""
    target = os.environ.get("SSCARD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


def test_counter_page_shows_holder_and_photo(images, tmp_path):
    driver = SSCardDriver(images.terminal(images.card("gen3")), device_number="SIM0001")
    with BackgroundBridge(Bridge(driver, page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/?auto=1") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "done", text(page, "status")
            assert text(page, "name") == "林婉婷"
            assert text(page, "ssn") == "440304199207214528"
            assert text(page, "card_number") == "B44030002"
            assert text(page, "region").startswith("440300")
            assert text(page, "version") == "3.00"
            assert text(page, "terminal") == "440300000009"
            assert page.evaluate("document.getElementById('photo').naturalWidth") > 0
            png = page.screenshot(tmp_path / "counter-page.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    keep(png)


def test_counter_page_reports_a_missing_card(images, tmp_path):
    term = images.terminal(images.card("gen2"))
    term.card_reader.remove()
    with BackgroundBridge(Bridge(SSCardDriver(term), page=EXAMPLE_PAGE)) as bg:
        with open_page(f"http://127.0.0.1:{bg.port}/?auto=1") as page:
            page.wait_for(DONE)
            assert page.evaluate("document.body.dataset.state") == "error"
            assert "-2" in text(page, "status")
            keep(page.screenshot(tmp_path / "counter-page-no-card.png"))
