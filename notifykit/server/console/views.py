"""The console's handlers: the login, the pages (alerts, on call, silences, heartbeats,
deliveries, audit) and the actions (acknowledge, snooze, resolve, silence an alert, expire a
silence).

Every link, form action and redirect is relative (``deliveries``, ``./``), so the console works
wherever a reverse proxy mounts it (``https://alerts.example.com/notifykit/console/``); the one
non-canonical URL, ``/console`` without its slash, is redirected to ``console/`` first. The
session cookie has no ``Path`` for the same reason: the browser scopes it to the console's own
directory.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from notifykit.ledger.audit import Acting
from notifykit.server.console.auth import (
    LoginLimiter,
    Passwords,
    Session,
    Sessions,
    TrustedProxies,
)
from notifykit.server.console.templates import render
from notifykit.server.http import HTTPProblem, Request, Response, cut

if TYPE_CHECKING:
    from notifykit.config.console import ConsoleSettings
    from notifykit.notifier import Notifier
    from notifykit.routing.matchers import Matcher

__all__ = ["COOKIE", "HEADERS", "LOGINS_AT_ONCE", "WEB", "Console"]

logger = logging.getLogger("notifykit.console")

#: the session cookie's name
COOKIE = "notifykit_console"
#: the audit trail's path for what the console does
WEB = Acting("web")
#: the headers of every console answer: never cached, never framed, nothing loaded from
#: elsewhere, no script at all, forms posting only here
HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on a form's
    # POST, and the Origin check needs the real one
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
)
#: password checks at once: the rest of the server's threads stay free for callbacks
LOGINS_AT_ONCE = 2
#: how long the Snooze button pauses an escalation
SNOOZE = 1800.0
#: the durations the Silence button offers: (seconds, text)
SILENCE_DURATIONS = (
    (3600.0, "1 hour"),
    (4 * 3600.0, "4 hours"),
    (86400.0, "1 day"),
    (7 * 86400.0, "1 week"),
)
#: the longest user name taken from the trusted header
MAX_USER = 200
#: how many deliveries and audit records a page shows
RECENT = 100
_DONE = {
    "acked": "Acknowledged: nobody else will be paged for it.",
    "resolved": "Resolved.",
    "snoozed": "Snoozed for 30 minutes: the next step goes out then, unless it is resolved.",
    "silenced": "Silenced: it is muted until the silence ends.",
    "expired": "Expired: what it muted goes out at its group's next flush if it still fires.",
    "none": "Nothing to do: it was no longer open.",
}
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{5,19}")


class _Refused(Exception):
    """An answer that is a console page with an error (``403``, ``429``...)."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


Handler = Callable[[Request], Response]


class Console:
    """The web console of one Notifier; :meth:`register` adds its routes."""

    def __init__(self, notifier: Notifier, settings: ConsoleSettings) -> None:
        self.notifier = notifier
        self.settings = settings
        clock = notifier.clock
        self._clock = clock
        self.sessions = Sessions(settings.secret, settings.session, clock)
        self.limiter = LoginLimiter(settings.login_attempts, settings.login_window, clock)
        self.passwords = Passwords(settings)
        #: password checks running at once at most (:data:`LOGINS_AT_ONCE`)
        self.checking = threading.BoundedSemaphore(LOGINS_AT_ONCE)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        public = notifier.config.server.public_url or ""
        self.secure = public.startswith("https://")
        self._public_origin = _origin(public) if public else None
        self._secrets = sorted((s for s in notifier.config.secrets if len(s) >= 4), key=len)[::-1]

    def register(self, add_route: Callable[..., None]) -> None:
        get, post = ("GET", "HEAD"), ("POST",)
        add_route(r"/console", self._guard(self.alerts, "alerts"), get)
        add_route(r"/console/login", self._guard(self.login), (*get, *post))
        add_route(r"/console/logout", self._guard(self.logout), post)
        add_route(r"/console/deliveries", self._guard(self.deliveries, "deliveries"), get)
        add_route(r"/console/audit", self._guard(self.audit, "audit"), get)
        add_route(r"/console/oncall", self._guard(self.oncall, "oncall"), get)
        add_route(r"/console/silences", self._guard(self.silences, "silences"), get)
        add_route(r"/console/heartbeats", self._guard(self.heartbeats, "heartbeats"), get)
        add_route(r"/console/circuits", self._guard(self.circuits, "circuits"), get)
        add_route(r"/console/ack", self._guard(self.ack), post)
        add_route(r"/console/resolve", self._guard(self.resolve), post)
        add_route(r"/console/silence", self._guard(self.silence), post)
        add_route(r"/console/expire", self._guard(self.expire), post)

    # -- plumbing -------------------------------------------------------------------------------

    def _guard(self, handler: Handler, canonical: str | None = None) -> Handler:
        """``handler`` with the console's headers on every answer, its refusals as pages, and
        non-canonical paths (``/console``, ``/console/audit/``) redirected."""

        def guarded(request: Request) -> Response:
            try:
                if canonical is not None and request.method != "POST":
                    moved = _canonical(request.path, canonical)
                    if moved is not None:
                        return _redirect(moved)
                response = handler(request)
            except _Redirect as moved:
                response = _redirect(moved.location)
            except _Refused as refused:
                response = _message(refused.status, refused.message, refused.headers)
            except HTTPProblem as problem:  # a body over the limits
                response = _message(problem.status, cut(problem.message))
            except Exception as err:
                from notifykit.errors import LedgerError

                path = request.path
                if isinstance(err, LedgerError):
                    logger.error("console: %s %s not served (503): %s", request.method, path, err)
                    response = _message(503, "The ledger cannot be read now: try again shortly.")
                else:
                    logger.exception("console: %s %s failed (500)", request.method, path)
                    response = _message(500, "Something went wrong: the server's log says what.")
            return Response(response.status, response.body, (*response.headers, *HEADERS))

        return guarded

    def _client(self, request: Request) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the last
        address of its ``X-Forwarded-For``."""
        peer = str(request.environ.get("REMOTE_ADDR", ""))
        forwarded = request.header("X-Forwarded-For")
        if forwarded and peer in self.proxies:
            return forwarded.split(",")[-1].strip() or peer
        return peer

    def _cookie(self, value: str, max_age: int) -> tuple[str, str]:
        flags = "; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
        return ("Set-Cookie", f"{COOKIE}={value}; Max-Age={max_age}{flags}")

    def _session(self, request: Request) -> tuple[Session | None, list[tuple[str, str]]]:
        """Who is logged in (``None``: nobody) and the cookie to set, if any.

        With ``trusted_header`` set, the header decides, and only from a trusted proxy: a
        request from anywhere else that carries it is refused (``403``, logged)."""
        cookie = _read_cookie(request.header("Cookie"), COOKIE)
        session = self.sessions.read(cookie) if cookie else None
        header = self.settings.trusted_header
        named = request.header(header).strip() if header else ""
        if header and named:
            peer = str(request.environ.get("REMOTE_ADDR", ""))
            if peer not in self.proxies:
                logger.warning(
                    "console: %s from %s refused: it is not in console.trusted_proxies",
                    header,
                    peer,
                )
                raise _Refused(403, f"{header} is accepted only from the trusted proxies.")
            if "," in named or len(named) > MAX_USER:
                # two headers joined (a proxy that appends instead of setting), or no name
                logger.warning(
                    "console: %s from %s refused: not one user name (does the proxy set it, or "
                    "append to the client's?)",
                    header,
                    peer,
                )
                raise _Refused(403, f"{header} does not name one user.")
            if session is not None and session.via == "header" and session.user == named:
                return session, []
            session, value = self.sessions.new(named, "header")
            logger.info("console: %s signed in through %s from %s", named, header, peer)
            return session, [self._cookie(value, int(self.settings.session))]
        if session is None:
            return None, []
        if session.via == "password" and session.user in self.passwords:
            return session, []
        return None, []  # a header session without the header, or a user since removed

    def _login_required(self, request: Request) -> tuple[Session, list[tuple[str, str]]]:
        session, cookies = self._session(request)
        if session is None:
            raise _Redirect("login")
        return session, cookies

    def _form(self, request: Request, session: Session | None) -> dict[str, str]:
        """A POST's form, after the Origin check and (with a session) the CSRF token check."""
        self._check_origin(request)
        try:
            fields = parse_qs(request.body().decode("utf-8"), max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "That form could not be read.") from None
        form = {name: values[0] for name, values in fields.items()}
        if session is not None and not self.sessions.csrf_ok(session, form.get("csrf", "")):
            logger.warning(
                "console: %s %s refused (403): the form's CSRF token is missing or wrong",
                request.method,
                request.path,
            )
            raise _Refused(403, "This form has expired: go back, reload the page and try again.")
        return form

    def _check_origin(self, request: Request) -> None:
        """A POST must come from a page of this console: its ``Origin`` (else its ``Referer``)
        names this host or ``server.public_url``'s."""
        origin = request.header("Origin") or _origin(request.header("Referer"))
        if not origin:
            return  # not sent by a browser; the CSRF token still decides
        host = request.header("Host") or str(request.environ.get("SERVER_NAME", ""))
        if origin != "null" and (
            origin == self._public_origin or urlsplit(origin).netloc.lower() == host.lower()
        ):
            return
        logger.warning(
            "console: %s %s refused (403): it comes from %s, not from this console",
            request.method,
            request.path,
            origin[:100],
        )
        raise _Refused(403, "This form was sent from another site.")

    def _scrub(self, text: str | None) -> str | None:
        """``text`` with the config's secrets replaced (a provider's error may quote one)."""
        if not text:
            return text
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _page(
        self,
        template: str,
        session: Session,
        cookies: Sequence[tuple[str, str]],
        status: int = 200,
        **context: Any,
    ) -> Response:
        body = render(template, user=session.user, csrf=session.csrf, **context)
        return Response.html(status, body, tuple(cookies))

    # -- login ----------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        if request.method != "POST":
            session, cookies = self._session(request)
            if session is not None:
                return _redirect("./", cookies)
            return Response.html(
                200, render("login", title="Log in", password_login=bool(self.settings.users))
            )
        form = self._form(request, None)
        client = self._client(request)
        wait = self.limiter.wait(client)
        if wait:
            logger.warning("console: login from %s refused (429): too many failures", client)
            raise _Refused(
                429,
                f"Too many failed logins from your address: try again in {int(wait) + 1} s.",
                (("Retry-After", str(int(wait) + 1)),),
            )
        user, password = form.get("user", "").strip(), form.get("password", "")
        # A check costs ~32 MiB and a sixth of a second of CPU on one of the server's threads,
        # which also answer status callbacks and ack links: a flood of logins (from many
        # addresses) waits at most this many threads; the rest are told to come back.
        if not self.checking.acquire(blocking=False):
            logger.warning(
                "console: login from %s refused (429): %d checks running", client, LOGINS_AT_ONCE
            )
            raise _Refused(
                429, "Too many logins at once: try again in a few seconds.", (("Retry-After", "2"),)
            )
        try:
            matched = bool(self.settings.users) and self.passwords.check(user, password)
        finally:
            self.checking.release()
        if not matched:
            self.limiter.failed(client)
            logger.warning("console: failed login from %s", client)
            body = render(
                "login",
                title="Log in",
                password_login=bool(self.settings.users),
                error="Wrong user or password.",
            )
            return Response.html(401, body)
        _session, value = self.sessions.new(user, "password")
        logger.info("console: %s logged in from %s", user, client)
        return _redirect("./", [self._cookie(value, int(self.settings.session))])

    def logout(self, request: Request) -> Response:
        session, _cookies = self._session(request)
        self._form(request, session)
        if session is not None:
            self.sessions.revoke(session)
            logger.info("console: %s logged out", session.user)
        return _redirect("login", [self._cookie("", 0)])

    # -- pages ----------------------------------------------------------------------------------

    def alerts(self, request: Request) -> Response:
        session, cookies = self._login_required(request)
        now = self._clock()
        shown = []
        for alert in self.notifier.alerts():
            escalation = alert.escalation
            shown.append(
                {
                    "key": alert.key,
                    "group": alert.group,
                    "event": alert.event,
                    "severity": alert.severity,
                    "receiver": alert.receiver,
                    "state": alert.state,
                    "reason": alert.reason,
                    "labels": sorted(alert.labels.items()),
                    "since": _when(alert.first_seen, now),
                    "escalation": escalation,
                    "next_due": _when(escalation.next_at, now) if escalation else "",
                    "can_ack": escalation is not None and escalation.state == "active",
                    "matchers": ", ".join(str(m) for m in _matchers_of(alert.event, alert.labels)),
                }
            )
        done = _DONE.get(_query(request, "done"))
        return self._page(
            "alerts",
            session,
            cookies,
            title="Open alerts",
            alerts=shown,
            flash=done,
            durations=[(str(int(seconds)), text) for seconds, text in SILENCE_DURATIONS],
        )

    def oncall(self, request: Request) -> Response:
        """Who each schedule has on call now, and its shifts over the next 7 days."""
        session, cookies = self._login_required(request)
        now = self._clock()
        start = datetime.fromtimestamp(now, timezone.utc)
        shown = []
        for name in sorted(self.notifier.config.schedules):
            found = self.notifier.oncall(name, start)
            how = (
                "override"
                if found.override
                else f"layer {found.layer}"
                if found.layer is not None
                else ""
            )
            shifts = [
                {"who": shift.who, "start": _local(shift.start, now), "end": _local(shift.end, now)}
                for shift in self.notifier.shifts(name, start, start + timedelta(days=7))
            ]
            shown.append({"name": name, "now": found.who or "nobody", "how": how, "shifts": shifts})
        return self._page("oncall", session, cookies, title="On call", schedules=shown)

    def heartbeats(self, request: Request) -> Response:
        """Each heartbeat's state, last beat and due time (never its token nor its URL)."""
        session, cookies = self._login_required(request)
        now = self._clock()
        shown = [
            {
                "name": beat.name,
                "state": beat.state,
                "last_beat": _when(beat.last_beat, now),
                "due": _when(beat.due, now),
                "deadline": _when(beat.deadline, now),
                "beats": beat.beats,
            }
            for beat in self.notifier.heartbeats()
        ]
        return self._page("heartbeats", session, cookies, title="Heartbeats", heartbeats=shown)

    def circuits(self, request: Request) -> Response:
        """Each provider account's circuit breaker that has counted a failure: open (nothing is
        sent through the account until its probe), half-open (a probe is out), or closed with
        failures in its window; its last error with the config's secrets taken out."""
        session, cookies = self._login_required(request)
        now = self._clock()
        window = self.notifier.config.circuit.window
        shown = [
            {
                "key": row.key,
                "state": row.state,
                "failures": row.failures,
                "since": _when(row.window_start, now),
                "opened": _when(row.opened_at, now),
                "probe": (
                    _when(row.reopen_at, now)
                    if row.state == "open"
                    else f"out ({row.probe_owner}) until {_when(row.probe_until, now)}"
                    if row.state == "half_open"
                    else ""
                ),
                "last_error": self._scrub(row.last_error) or "",
            }
            for row in self.notifier.ledger.circuits.rows()
            if row.state != "closed" or row.failures > 0
        ]
        shown.sort(key=lambda c: (c["state"] == "closed", c["key"]))
        return self._page(
            "circuits",
            session,
            cookies,
            title="Circuits",
            circuits=shown,
            window=_span(int(window)),
            enabled=self.notifier.config.circuit.enabled,
        )

    def silences(self, request: Request) -> Response:
        """The silences in force or to come, each with an Expire button."""
        session, cookies = self._login_required(request)
        now = self._clock()
        shown = [
            {
                "id": silence.id,
                "matchers": ", ".join(str(m) for m in silence.matchers),
                "state": silence.state(now),
                "starts": _when(silence.starts_at, now),
                "ends": _when(silence.ends_at, now),
                "comment": silence.comment,
                "created_by": silence.created_by,
            }
            for silence in self.notifier.silences()
        ]
        done = _DONE.get(_query(request, "done"))
        return self._page(
            "silences", session, cookies, title="Silences", silences=shown, flash=done
        )

    def deliveries(self, request: Request) -> Response:
        session, cookies = self._login_required(request)
        now = self._clock()
        rows = []
        for report in self.notifier.history(limit=RECENT):
            for delivery in report.deliveries:
                address = delivery.address or ""
                rows.append(
                    {
                        "when": _when(delivery.updated or report.created, now),
                        "event": report.event,
                        "receiver": report.receiver,
                        "step": report.step,
                        "channel": delivery.channel,
                        "recipient": delivery.recipient,
                        # a phone number is for the operator; a webhook's URL may hold a token
                        "address": address if _PHONE.fullmatch(address) else "",
                        "state": delivery.state.value,
                        "provider_id": delivery.provider_id,
                        "detail": self._scrub(delivery.error or delivery.provider_status),
                    }
                )
        return self._page(
            "deliveries", session, cookies, title="Deliveries", deliveries=rows[: 2 * RECENT]
        )

    def audit(self, request: Request) -> Response:
        session, cookies = self._login_required(request)
        now = self._clock()
        records = [
            {
                "when": _when(record.at, now),
                "action": record.action,
                "path": record.path,
                "actor": record.actor,
                "target": sorted(record.target.items()),
                "detail": self._scrub(record.detail),
            }
            for record in reversed(self.notifier.audit(limit=RECENT))
        ]
        return self._page("audit", session, cookies, title="Audit trail", records=records)

    # -- actions --------------------------------------------------------------------------------

    def _action(self, request: Request, field: str = "key") -> tuple[Session, str, dict[str, str]]:
        """A logged-in POST's session, the thing it acts on (its ``field``) and its form."""
        session, _cookies = self._session(request)
        if session is None:
            self._check_origin(request)
            raise _Refused(403, "Log in first.")
        form = self._form(request, session)
        target = form.get(field, "").strip()
        if not target:
            raise _Refused(400, "Which one? The form named none.")
        return session, target, form

    def ack(self, request: Request) -> Response:
        """Acknowledge an alert's escalation, or snooze it (``snooze``: 30 minutes, the one
        snooze offered): its next step goes out when the snooze ends."""
        session, key, form = self._action(request)
        snooze = form.get("snooze")
        if snooze is not None and snooze != str(int(SNOOZE)):
            raise _Refused(400, "Snooze for the time offered.")
        acked = self.notifier.ack(
            key, by=session.user, acting=WEB, snooze=SNOOZE if snooze else None
        )
        what = "snoozed" if snooze else "acknowledged"
        logger.info("console: %s %s %s (%d escalations)", session.user, what, key, len(acked))
        return _redirect("./?done=" + (("snoozed" if snooze else "acked") if acked else "none"))

    def resolve(self, request: Request) -> Response:
        session, key, _form = self._action(request)
        from notifykit.errors import LedgerError, NotifykitError

        try:
            resolved = self.notifier.resolve(key, by=session.user, acting=WEB)
        except LedgerError:
            raise
        except NotifykitError as err:
            logger.error("console: %s could not resolve %s: %s", session.user, key, err)
            raise _Refused(500, f"Could not resolve {key}: {self._scrub(str(err))}") from None
        logger.info("console: %s resolved %s (%d alerts)", session.user, key, len(resolved))
        return _redirect("./?done=" + ("resolved" if resolved else "none"))

    def silence(self, request: Request) -> Response:
        """Silence one open alert (a matcher ``=`` for its event and each label) for one of
        :data:`SILENCE_DURATIONS`, saying why."""
        session, key, form = self._action(request)
        comment = form.get("comment", "").strip()[:500]
        offered = {str(int(seconds)): seconds for seconds, _text in SILENCE_DURATIONS}
        seconds = offered.get(form.get("duration", ""))
        if seconds is None:
            raise _Refused(400, "Pick one of the durations offered.")
        if not comment:
            raise _Refused(400, "Say why: a silence needs a comment.")
        alert = next((a for a in self.notifier.alerts() if a.key == key), None)
        if alert is None:
            return _redirect("./?done=none")
        from notifykit.routing.silences import SilenceError

        matchers = [str(m) for m in _matchers_of(alert.event, alert.labels)]
        try:
            made = self.notifier.silence(
                matchers, duration=seconds, comment=comment, by=session.user, acting=WEB
            )
        except SilenceError as err:
            raise _Refused(400, f"Not silenced: {err}") from None
        logger.info("console: %s silenced %s (silence %s)", session.user, key, made.id)
        return _redirect("silences?done=silenced")

    def expire(self, request: Request) -> Response:
        """End a silence now."""
        session, silence_id, _form = self._action(request, "id")
        from notifykit.routing.silences import SilenceError

        try:
            self.notifier.expire_silence(silence_id, by=session.user, acting=WEB)
        except SilenceError as err:
            raise _Refused(400, f"Not expired: {err}") from None
        logger.info("console: %s expired silence %s", session.user, silence_id)
        return _redirect("silences?done=expired")


def _matchers_of(event: str, labels: Mapping[str, str]) -> list[Matcher]:
    """The matchers a silence of one alert has: its event and every label, each ``=``."""
    from notifykit.routing.matchers import Matcher

    return [Matcher("event", "=", event)] + [
        Matcher(name, "=", value) for name, value in sorted(labels.items())
    ]


def _local(moment: datetime, now: float) -> str:
    """A schedule's time in its own zone, and how far it is from now."""
    delta = int(moment.timestamp() - now)
    span = _span(abs(delta))
    relative = f"in {span}" if delta > 0 else f"{span} ago" if delta < 0 else "now"
    return f"{moment:%a %Y-%m-%d %H:%M} {moment.tzname() or ''} ({relative})".replace("  ", " ")


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _message(status: int, text: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A page saying why a request was not done."""
    return Response.html(
        status, render("message", title="Not done", message=text, back="./"), headers
    )


def _redirect(location: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """``303 See Other`` to a URL relative to the request's."""
    return Response(303, b"", (("Location", location), *headers))


def _canonical(path: str, page: str) -> str | None:
    """Where a non-canonical console URL moves to (relative to it), or ``None``."""
    if page == "alerts":
        return "console/" if path == "/console" else None
    if path.endswith("/"):
        return f"../{page}"
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def _read_cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def _query(request: Request, name: str) -> str:
    values = parse_qs(str(request.environ.get("QUERY_STRING", "")), max_num_fields=10)
    return (values.get(name) or [""])[0]


def _when(epoch: float | None, now: float) -> str:
    """``2026-12-07 06:10 UTC (4m ago)``, or ``in 5m`` for a time to come."""
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    delta = int(epoch - now)
    span = _span(abs(delta))
    relative = f"in {span}" if delta > 0 else f"{span} ago" if delta < 0 else "now"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({relative})"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
