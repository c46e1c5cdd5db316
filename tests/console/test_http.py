"""The web console over real HTTP (issue 19): login required, passwords checked against their
hashes, sessions signed and expiring, failed logins rate-limited, CSRF token and Origin checked
on every action, the trusted proxy header accepted only from trusted proxies, never cached nor
framed, no secret rendered, and actions recorded in the ledger and its audit trail as ``web``."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import requests

from notifykit.server.console.auth import hash_password
from notifykit.server.console.views import LOGINS_AT_ONCE
from tests.console.conftest import PASSWORD, TEST_COST, Console, csrf_of, log_in
from tests.delivery.conftest import TOKEN
from tests.server.support import acknowledgements
from tests.services import postgres_schema


def _secure_headers(answer: requests.Response) -> None:
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy


def _get(url: str, session: requests.Session | None = None, **kwargs: Any) -> requests.Response:
    return (session or requests).get(url, allow_redirects=False, timeout=10, **kwargs)


def _post(url: str, session: requests.Session | None = None, **kwargs: Any) -> requests.Response:
    return (session or requests).post(url, allow_redirects=False, timeout=10, **kwargs)


def _fire(console: Console) -> str:
    report = console.kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert report.key is not None
    return report.key


# -- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["", "deliveries", "audit"])
def test_every_page_needs_a_login(console, page):
    answer = _get(console.url + page)
    assert answer.status_code == 303 and answer.headers["Location"] == "login"
    _secure_headers(answer)
    assert answer.content == b""


def test_console_without_its_slash_moves_to_it(console):
    answer = _get(console.base + "/console")
    assert answer.status_code == 303 and answer.headers["Location"] == "console/"
    assert _get(console.url + "audit/").headers["Location"] == "../audit"


def test_login_page_and_a_right_password(console):
    page = _get(console.url + "login")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert 'name="viewport"' in page.text
    _secure_headers(page)
    answer = _post(
        console.url + "login",
        data={"user": "asha", "password": PASSWORD},
        headers={"Origin": console.base},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "./"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("notifykit_console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # public_url is http://127.0.0.1 here
    session = log_in(console)
    home = _get(console.url, session)
    assert home.status_code == 200 and "No open alerts" in home.text and "asha" in home.text
    _secure_headers(home)


@pytest.mark.parametrize(
    ("user", "password"), [("asha", "wrong password"), ("nobody", PASSWORD), ("asha", "")]
)
def test_a_wrong_password_or_user_is_refused_alike(console, user, password):
    answer = _post(
        console.url + "login",
        data={"user": user, "password": password},
        headers={"Origin": console.base},
    )
    assert answer.status_code == 401 and "Wrong user or password." in answer.text
    assert "Set-Cookie" not in answer.headers
    _secure_headers(answer)


def test_failed_logins_are_rate_limited_per_address(console, clock):
    def attempt(password: str = "nope", forwarded: str | None = None) -> requests.Response:
        headers = {"Origin": console.base}
        if forwarded:
            headers["X-Forwarded-For"] = forwarded
        return _post(
            console.url + "login", data={"user": "asha", "password": password}, headers=headers
        )

    for _ in range(5):  # console.login_attempts
        assert attempt().status_code == 401
    refused = attempt(PASSWORD)  # even the right password: the address is waiting
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    _secure_headers(refused)
    # 127.0.0.1 is a trusted proxy by default: the address it forwards for is the client's
    assert attempt(PASSWORD, forwarded="203.0.113.9").status_code == 303
    clock.advance(301)  # console.login_window
    assert attempt(PASSWORD).status_code == 303


def test_password_checks_at_once_are_bounded_so_callbacks_keep_their_threads(console):
    """A flood of logins from many addresses must not take every server thread (they answer
    status callbacks and ack links too): with LOGINS_AT_ONCE checks running, the next is 429."""
    checking = console.server.app.console.checking
    for _ in range(LOGINS_AT_ONCE):
        assert checking.acquire(blocking=False)  # as if that many checks were running
    try:
        answer = _post(
            console.url + "login",
            data={"user": "asha", "password": PASSWORD},
            headers={"Origin": console.base},
        )
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
        _secure_headers(answer)
        assert requests.get(console.base + "/healthz", timeout=5).status_code == 200
    finally:
        for _ in range(LOGINS_AT_ONCE):
            checking.release()
    assert log_in(console).cookies["notifykit_console"]


def test_a_forged_or_expired_cookie_is_no_session(console, clock):
    session = log_in(console)
    cookie = session.cookies["notifykit_console"]
    user, via, expires, sid, signature = cookie.split(".")
    other = "Ym9i"  # "bob", with asha's signature
    forged = ".".join([other, via, expires, sid, signature])
    later = ".".join([user, via, str(int(expires) + 86400), sid, signature])
    for value in (forged, later, "garbage", ""):
        answer = _get(console.url, cookies={"notifykit_console": value})
        assert answer.status_code == 303, value
    assert _get(console.url, session).status_code == 200
    clock.advance(12 * 3600 + 1)  # console.session
    assert _get(console.url, session).status_code == 303


def test_logout_ends_the_session_even_if_the_cookie_is_kept(console):
    session = log_in(console)
    cookie = session.cookies["notifykit_console"]
    token = csrf_of(_get(console.url, session).text)
    answer = _post(console.url + "logout", session, data={"csrf": token})
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["Set-Cookie"]
    assert _get(console.url, cookies={"notifykit_console": cookie}).status_code == 303


# -- actions ----------------------------------------------------------------------------------


def test_acknowledge_through_the_console_is_recorded_as_web_by_the_user(console):
    key = _fire(console)
    session = log_in(console)
    page = _get(console.url, session).text
    assert "db.down" in page and "page" in page and "primary: step 0.0" in page
    assert "Next step</dt><dd>0.1 due " in page and "(in 5m)" in page
    answer = _post(console.url + "ack", session, data={"csrf": csrf_of(page), "key": key})
    assert answer.status_code == 303 and answer.headers["Location"] == "./?done=acked"
    _secure_headers(answer)
    [escalation] = console.kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_by) == ("acked", "asha")
    [record] = [r for r in console.kit.audit() if r.action == "acknowledged"]
    assert (record.path, record.actor) == ("web", "asha")
    after = _get(console.url + "?done=acked", session).text
    assert "Acknowledged: nobody else will be paged" in after
    assert ">Acknowledge</button>" not in after and "Acknowledged by</dt><dd>asha" in after
    audit = _get(console.url + "audit", session).text
    assert "acknowledged" in audit and "web" in audit and "asha" in audit
    assert acknowledgements(console.base) == {("web", ""): 1}


def test_acknowledge_through_the_console_on_postgresql(start_console):
    with postgres_schema() as store:
        users = {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}
        console = start_console({"users": users}, store=store)
        assert console.kit.store_location.startswith("postgresql://")
        key = _fire(console)
        session = log_in(console)
        token = csrf_of(_get(console.url, session).text)
        answer = _post(console.url + "ack", session, data={"csrf": token, "key": key})
        assert answer.headers["Location"] == "./?done=acked"
        [escalation] = console.kit.ledger.routing.escalations()
        assert (escalation.state, escalation.acked_by) == ("acked", "asha")
        [record] = [r for r in console.kit.audit() if r.action == "acknowledged"]
        assert (record.path, record.actor) == ("web", "asha")
        console.server.close()  # before the schema is dropped
        console.kit.close()


def test_resolve_through_the_console(console):
    key = _fire(console)
    session = log_in(console)
    token = csrf_of(_get(console.url, session).text)
    answer = _post(console.url + "resolve", session, data={"csrf": token, "key": key})
    assert answer.headers["Location"] == "./?done=resolved"
    assert console.kit.alerts() == []
    [record] = [r for r in console.kit.audit() if r.action == "resolved"]
    assert (record.path, record.actor) == ("web", "asha")
    again = _post(console.url + "resolve", session, data={"csrf": token, "key": key})
    assert again.headers["Location"] == "./?done=none"


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_an_action_without_the_sessions_csrf_token_is_403(console, token):
    key = _fire(console)
    session = log_in(console)
    data = {"key": key} if token is None else {"key": key, "csrf": token}
    answer = _post(console.url + "ack", session, data=data)
    assert answer.status_code == 403 and "expired" in answer.text
    _secure_headers(answer)
    assert console.kit.ledger.routing.escalations()[0].state == "active"


def test_another_sessions_token_does_not_do(console):
    key = _fire(console)
    mine, theirs = log_in(console), log_in(console)
    their_token = csrf_of(_get(console.url, theirs).text)
    assert (
        _post(console.url + "ack", mine, data={"csrf": their_token, "key": key}).status_code == 403
    )


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
def test_an_action_from_another_origin_is_403_even_with_the_token(console, origin):
    key = _fire(console)
    session = log_in(console)
    token = csrf_of(_get(console.url, session).text)
    answer = _post(
        console.url + "ack", session, data={"csrf": token, "key": key}, headers={"Origin": origin}
    )
    assert answer.status_code == 403 and "another site" in answer.text
    referer = _post(
        console.url + "ack",
        session,
        data={"csrf": token, "key": key},
        headers={"Origin": "", "Referer": "http://evil.example/page"},
    )
    assert referer.status_code == 403
    assert console.kit.ledger.routing.escalations()[0].state == "active"


def test_an_action_without_a_session_is_403(console):
    key = _fire(console)
    answer = _post(console.url + "ack", data={"key": key, "csrf": "x"})
    assert answer.status_code == 403
    assert _get(console.url + "ack").status_code == 405


# -- what is shown ----------------------------------------------------------------------------


def test_deliveries_show_states_and_provider_ids_and_no_secret(console):
    _fire(console)
    session = log_in(console)
    page = _get(console.url + "deliveries", session)
    [report] = console.kit.history()
    [delivery] = report.deliveries
    assert delivery.provider_id and delivery.provider_id in page.text
    assert delivery.state.value in page.text and delivery.address in page.text
    pages = [page.text] + [
        _get(console.url + p, session).text for p in ("", "audit", "login", "?done=acked")
    ]
    for text in pages:
        assert TOKEN not in text
        assert "scrypt$" not in text
        assert "/ack/" not in text  # an ack link is a capability: never on a page


def test_values_are_escaped(console):
    console.kit.notify("db.down", severity="critical", labels={"host": "<script>alert(1)</script>"})
    session = log_in(console)
    page = _get(console.url, session).text
    assert "<script>" not in page and "&lt;script&gt;" in page


# -- the trusted proxy header -----------------------------------------------------------------


def test_the_trusted_header_logs_in_from_a_trusted_proxy(start_console):
    console = start_console({"trusted_header": "X-Forwarded-User"})
    key = _fire(console)
    proxy = requests.Session()
    proxy.headers.update({"X-Forwarded-User": "ravi", "Origin": console.base})
    page = _get(console.url, proxy)
    assert page.status_code == 200 and "ravi" in page.text
    answer = _post(console.url + "ack", proxy, data={"csrf": csrf_of(page.text), "key": key})
    assert answer.status_code == 303
    [record] = [r for r in console.kit.audit() if r.action == "acknowledged"]
    assert (record.path, record.actor) == ("web", "ravi")
    # the proxy stops naming ravi: his cookie alone is no session
    proxy.headers.pop("X-Forwarded-User")
    assert _get(console.url, proxy).status_code == 303
    # no users: there is no password form
    assert 'type="password"' not in _get(console.url + "login").text


def test_the_trusted_header_from_anyone_else_is_refused(start_console):
    console = start_console(
        {
            "trusted_header": "X-Forwarded-User",
            "trusted_proxies": ["10.9.8.0/24"],
            "users": {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}},
        }
    )
    forged = _get(console.url, headers={"X-Forwarded-User": "asha"})
    assert forged.status_code == 403 and "trusted proxies" in forged.text
    _secure_headers(forged)
    # ...even with a valid password session: the header is never taken from a stranger
    session = log_in(console)
    assert _get(console.url, session).status_code == 200
    assert _get(console.url, session, headers={"X-Forwarded-User": "ravi"}).status_code == 403


# -- off --------------------------------------------------------------------------------------


@pytest.mark.parametrize("section", [None, {}, {"users": {}}])
def test_without_users_or_a_header_the_console_is_404(start_console, section):
    console = start_console(section)
    assert console.kit.config.console.enabled is False
    for path in ("", "login", "audit"):
        assert _get(console.url + path).status_code == 404
    assert _post(console.url + "login", data={"user": "a", "password": "b"}).status_code == 404


def test_secure_cookie_behind_an_https_public_url(start_console):
    users = {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}
    console = start_console({"users": users}, public_url="https://alerts.example.com/nk")
    answer = _post(
        console.url + "login",
        data={"user": "asha", "password": PASSWORD},
        headers={"Origin": "https://alerts.example.com"},
    )
    assert answer.status_code == 303
    assert re.search(r";\s*Secure", answer.headers["Set-Cookie"])


def test_a_header_naming_two_users_is_refused(start_console):
    """A proxy that appends to the client's header instead of setting it: the server joins the
    two into "mallory, ravi", which names nobody."""
    console = start_console({"trusted_header": "X-Forwarded-User"})
    for value in ("mallory, ravi", "x" * 201):
        answer = _get(console.url, headers={"X-Forwarded-User": value})
        assert answer.status_code == 403 and "does not name one user" in answer.text
        _secure_headers(answer)


@pytest.mark.parametrize("secret", [None, "s3cret-" * 6])
def test_processes_share_sessions_only_with_console_secret(start_console, secret, monkeypatch):
    """Two processes serving the console (gunicorn workers, two serves): a session made by one
    is honoured by the other when they share console.secret, and only then."""
    section: dict[str, Any] = {
        "users": {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}
    }
    if secret is not None:
        monkeypatch.setenv("NK_CONSOLE_SECRET", secret)
        section["secret"] = "${NK_CONSOLE_SECRET}"
    first, second = start_console(section), start_console(section)
    session = log_in(first)
    cookie = session.cookies["notifykit_console"]
    answer = _get(second.url, cookies={"notifykit_console": cookie})
    assert answer.status_code == (200 if secret else 303)


# -- silences and on call ---------------------------------------------------------------------


def test_silence_an_alert_and_expire_it_through_the_console(console):
    key = _fire(console)
    session = log_in(console)
    page = _get(console.url, session).text
    assert 'Mutes event="db.down", host="db1"' in html.unescape(page)
    token = csrf_of(page)
    for refused in ({"duration": "3600"}, {"duration": "12345", "comment": "deploy"}):
        answer = _post(
            console.url + "silence", session, data={"csrf": token, "key": key, **refused}
        )
        assert answer.status_code == 400
    assert console.kit.silences() == []
    answer = _post(
        console.url + "silence",
        session,
        data={"csrf": token, "key": key, "duration": "3600", "comment": "db1 rebuild"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "silences?done=silenced"
    [silence] = console.kit.silences()
    assert [str(m) for m in silence.matchers] == ['event="db.down"', 'host="db1"']
    assert (silence.created_by, silence.comment) == ("asha", "db1 rebuild")
    assert silence.ends_at - silence.starts_at == 3600
    [made] = [r for r in console.kit.audit() if r.action == "silence-created"]
    assert (made.path, made.actor) == ("web", "asha")
    listed = _get(console.url + "silences?done=silenced", session).text
    assert "Silenced: it is muted" in listed and "db1 rebuild" in listed and silence.id in listed
    answer = _post(console.url + "expire", session, data={"csrf": token, "id": silence.id})
    assert answer.headers["Location"] == "silences?done=expired"
    assert console.kit.silences() == []
    [expired] = [r for r in console.kit.audit() if r.action == "silence-expired"]
    assert (expired.path, expired.actor) == ("web", "asha")
    # without the token, nothing is silenced
    assert (
        _post(
            console.url + "silence",
            session,
            data={"key": key, "duration": "3600", "comment": "x"},
        ).status_code
        == 403
    )
    assert console.kit.silences() == []


SCHEDULES = {
    "primary": {
        "timezone": "Asia/Kolkata",
        "layers": [{"rotation": "daily", "start": "2027-01-01T09:00", "members": ["p0", "p1"]}],
        "overrides": [{"who": "p2", "from": "2027-01-17T09:00", "to": "2027-01-17T21:00"}],
    }
}


def test_who_is_on_call_now_and_this_week(start_console, clock):
    users = {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}
    console = start_console({"users": users}, sections_extra={"schedules": SCHEDULES})
    session = log_in(console)
    page = _get(console.url + "oncall", session)
    assert page.status_code == 200
    _secure_headers(page)
    # the clock: 2027-01-15 08:00 UTC = 13:30 in Kolkata; day 14 from 2027-01-01 09:00 is p0's
    expected = console.kit.oncall("primary")
    assert expected.who == "p0"
    text = page.text
    assert 'Now: <strong class="now">p0</strong>' in text and "(layer 0)" in text
    assert "p2" in text and "Sun 2027-01-17 09:00 IST" in text  # the override, this week
    assert text.count('<tr><td data-label="Who">') >= 7


def test_the_on_call_page_without_schedules(console):
    session = log_in(console)
    assert "no schedules: section" in _get(console.url + "oncall", session).text


def test_snooze_through_the_console(console, clock):
    key = _fire(console)
    session = log_in(console)
    token = csrf_of(_get(console.url, session).text)
    wrong = _post(console.url + "ack", session, data={"csrf": token, "key": key, "snooze": "60"})
    assert wrong.status_code == 400
    answer = _post(console.url + "ack", session, data={"csrf": token, "key": key, "snooze": "1800"})
    assert answer.headers["Location"] == "./?done=snoozed"
    [escalation] = console.kit.ledger.routing.escalations()
    assert escalation.state == "snoozed" and escalation.wake_at == clock() + 1800
    [snoozed] = [r for r in console.kit.audit() if r.action == "snoozed"]
    assert (snoozed.path, snoozed.actor) == ("web", "asha")
    assert "Snoozed for 30 minutes" in _get(console.url + "?done=snoozed", session).text


def test_heartbeats_with_their_state_and_never_their_token(start_console, clock):
    users = {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}
    console = start_console(
        {"users": users},
        sections_extra={"heartbeats": {"backup": {"every": "1h"}, "restore": {"every": "1d"}}},
    )
    url = console.kit.heartbeat_url("backup", with_token=True)
    assert url is not None
    token = url.rsplit("/", 1)[1]
    beat = requests.post(url, timeout=10)  # the job's beat, to the same server
    assert beat.status_code == 200
    session = log_in(console)
    page = _get(console.url + "heartbeats", session)
    _secure_headers(page)
    text = html.unescape(page.text)
    row = re.search(r'<tr data-heartbeat="backup">(.*?)</tr>', text, re.S)
    assert row is not None and ">ok<" in row.group(1) and "(in 1h00m)" in row.group(1)
    assert re.search(r'<tr data-heartbeat="restore">.*?never', text, re.S)
    assert token not in page.text and "/heartbeat/" not in page.text


def test_circuits_show_an_account_the_provider_refuses(console, sim, clock):
    session = log_in(console)
    empty = _get(console.url + "circuits", session)
    _secure_headers(empty)
    assert "No provider account has failed" in empty.text
    assert '<a href="circuits">Circuits</a>' in empty.text  # in every page's navigation

    sim.revoke_credentials()  # Exotel answers 401: the account is refused, send after send
    for n in range(10):
        console.kit.notify("db.down", severity="critical", labels={"host": f"db{n}"})
        if any(row.state == "open" for row in console.kit.ledger.circuits.rows()):
            break
    [row] = console.kit.ledger.circuits.rows()
    assert row.state == "open" and row.failures >= 5

    page = _get(console.url + "circuits", session)
    text = html.unescape(page.text)
    shown = re.search(rf'<tr data-circuit="{re.escape(row.key)}">(.*?)</tr>', text, re.S)
    assert shown is not None, text
    cells = shown.group(1)
    assert ">open<" in cells and f">{row.failures}<" in cells
    assert "(in 2m)" in cells  # the probe, after the default 2-minute cool-down
    assert "401" in cells and "Authentication" in cells  # the last error, as Exotel said it
    assert TOKEN not in page.text and "Circuits (1)" in text

    clock.advance(121)
    sim.revoke_credentials(False)
    console.kit.notify("db.down", severity="critical", labels={"host": "probe"})  # the probe
    [row] = console.kit.ledger.circuits.rows()
    assert row.state == "closed" and row.failures == 0
    assert "No provider account has failed" in _get(console.url + "circuits", session).text
