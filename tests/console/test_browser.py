"""The console in a real browser (issue 19): headless Chromium (Debian's ``chromium`` package)
driven by Playwright logs in, acknowledges an alert, and the ledger changes. Skipped with the
reason when Chromium or Playwright is missing, failed instead under
``NOTIFYKIT_REQUIRE_SERVICES=1`` (``.ci/run`` installs Chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from tests.console.conftest import PASSWORD
from tests.services import required

CHROMIUM = os.environ.get("NOTIFYKIT_TEST_CHROMIUM", "/usr/bin/chromium")


def _missing(reason: str) -> NoReturn:
    """Skip, or under ``NOTIFYKIT_REQUIRE_SERVICES=1`` fail (CI never passes by skipping)."""
    if required():
        pytest.fail(f"the browser test is required (NOTIFYKIT_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(f"no browser test: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _missing("the playwright package is not installed: pip install -e '.[test]'")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(
            f"{CHROMIUM} does not exist: apt-get install chromium, or point "
            "NOTIFYKIT_TEST_CHROMIUM at a Chromium"
        )
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Error as err:
            _missing(f"{CHROMIUM} does not start: {str(err).splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page in a fresh context the size of a phone's screen."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def test_log_in_and_acknowledge_an_alert_in_chromium(console, phone):
    report = console.kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [escalation] = console.kit.ledger.routing.escalations()
    assert escalation.state == "active"

    phone.goto(console.url)
    assert phone.url == console.url + "login"  # redirected: nobody is logged in
    phone.fill("#user", "asha")
    phone.fill("#password", "not it")
    phone.click("button:has-text('Log in')")
    assert phone.locator("[role=alert]").inner_text() == "Wrong user or password."
    phone.fill("#user", "asha")
    phone.fill("#password", PASSWORD)
    phone.click("button:has-text('Log in')")
    assert phone.url == console.url

    [cookie] = phone.context.cookies()
    assert cookie["name"] == "notifykit_console" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert phone.evaluate("document.cookie") == ""  # no script can read the session

    card = phone.locator(f"section[data-key='{report.key}']")
    assert "db.down" in card.inner_text() and "firing" in card.inner_text()
    # usable on a phone: nothing wider than the screen
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    card.locator("button:has-text('Acknowledge')").click()  # a real form POST: Origin, token
    assert "Acknowledged: nobody else will be paged" in phone.locator("[role=status]").inner_text()
    assert "State\nacknowledged" in card.inner_text()
    assert "Acknowledged by\nasha" in card.inner_text()
    assert card.locator("button:has-text('Acknowledge')").count() == 0

    [escalation] = console.kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_by) == ("acked", "asha")
    [record] = [r for r in console.kit.audit() if r.action == "acknowledged"]
    assert (record.path, record.actor) == ("web", "asha")

    phone.click("a:has-text('Audit')")
    assert "acknowledged" in phone.locator("table").inner_text()
    phone.click("a:has-text('Deliveries')")
    [delivery] = console.kit.history()[0].deliveries
    assert delivery.provider_id is not None
    assert delivery.provider_id in phone.locator("table").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    phone.click("button:has-text('Log out')")
    assert phone.url == console.url + "login"
    phone.goto(console.url + "audit")
    assert phone.url == console.url + "login"


def test_another_site_cannot_post_to_the_console(console, phone, browser):
    """A page elsewhere with a copy of the form (even the right token) is refused: the session
    cookie is SameSite=Strict and the Origin is not this console's."""
    report = console.kit.notify("db.down", severity="critical", labels={"host": "db1"})
    phone.goto(console.url + "login")
    phone.fill("#user", "asha")
    phone.fill("#password", PASSWORD)
    phone.click("button:has-text('Log in')")
    token = phone.locator("input[name=csrf]").first.get_attribute("value")
    # localhost is another site than 127.0.0.1 to the browser
    evil = console.base.replace("127.0.0.1", "localhost") + "/healthz"
    phone.goto(evil)
    phone.set_content(
        f"<form method=post action='{console.url}ack'><input name=csrf value='{token}'>"
        f"<input name=key value='{report.key}'><button>go</button></form>"
    )
    phone.click("button")
    # no cookie goes along (SameSite=Strict), and the Origin is refused before anything else
    assert "This form was sent from another site." in phone.content()
    assert console.kit.ledger.routing.escalations()[0].state == "active"


def test_silence_an_alert_in_chromium(console, phone):
    report = console.kit.notify("db.down", severity="critical", labels={"host": "db1"})
    phone.goto(console.url + "login")
    phone.fill("#user", "asha")
    phone.fill("#password", PASSWORD)
    phone.click("button:has-text('Log in')")
    card = phone.locator(f"section[data-key='{report.key}']")
    card.locator("summary:has-text('Silence')").click()
    card.locator("select[name=duration]").select_option(label="4 hours")
    card.locator("button:has-text('Silence')").last.click()
    # the comment is required: the browser does not send the form without it
    assert phone.url == console.url and console.kit.silences() == []
    card.locator("input[name=comment]").fill("db1 rebuild")
    card.locator("button:has-text('Silence')").last.click()
    assert phone.url == console.url + "silences?done=silenced"
    [silence] = console.kit.silences()
    assert silence.ends_at - silence.starts_at == 4 * 3600 and silence.created_by == "asha"
    assert "db1 rebuild" in phone.locator(f"section[data-silence='{silence.id}']").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.click("button:has-text('Expire now')")
    assert phone.url == console.url + "silences?done=expired"
    assert console.kit.silences() == []
