"""A fake of Twilio's REST API on 127.0.0.1, for tests and ``--sandbox``: ``POST
/2010-04-01/Accounts/<AccountSid>/Messages.json`` and ``.../Calls.json`` with HTTP Basic auth
(the account SID and auth token) and Twilio's form parameters, answered as Twilio documents
(``201`` with the resource's JSON and its ``sid``, or an error ``{"code", "message",
"more_info", "status"}``), every request recorded.

It checks what Twilio would: the credentials (401, code 20003), the account SID in the path,
``To`` in E.164 (21211), ``From`` or ``MessagingServiceSid``, ``Body`` for a message, ``Url``
or ``Twiml`` for a call, and, when it is given ``verified`` numbers (a trial account), that
``To`` is one of them (21608 for a message, 21219 for a call).

Faults (:class:`Fault`), each for the next ``times`` requests: ``unauthorized`` (HTTP 401,
20003), ``number`` (21211), ``unverified`` (21608/21219), ``funds`` (10001, the account not
active: out of funds), ``throttled`` (HTTP 429, 20429, ``Retry-After``), ``server`` (HTTP
500), ``drop`` (the connection closed after the request was read, no answer), ``slow`` (the
answer held back ``delay`` seconds, past the client's timeout), ``error`` (any Twilio error:
the fault's ``status``, ``code`` and ``message``). A refused connection needs no server: :func:`closed_url` is an address nothing listens on.

It can play a call as Twilio would (:meth:`FakeTwilio.play_call`): POST the call's TwiML URL,
read ``<Say>`` and ``<Gather>``, POST the digits to the Gather's ``action``, then the final
status to the call's ``StatusCallback``, each request signed with the auth token
(``X-Twilio-Signature``, computed by the ``twilio`` package's ``RequestValidator``), so tests
drive the whole loop over real HTTP. :meth:`FakeTwilio.report` posts a message's status.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from notifykit.fakeserver import FakeRequest, FakeServer, closed_url

__all__ = ["CallRun", "FakeTwilio", "Fault", "Request", "Step", "closed_url"]

log = logging.getLogger("notifykit_twilio.fake")

_PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<kind>Messages|Calls)\.json")
_E164 = re.compile(r"\+[1-9]\d{6,14}")

FaultKind = Literal[
    "unauthorized", "number", "unverified", "funds", "throttled", "server", "drop", "slow", "error"
]


@dataclass(frozen=True)
class Request:
    """One API request the fake received (``form``: its parameters, every value)."""

    path: str
    headers: Mapping[str, str] = field(repr=False)  # names lowercased
    form: Mapping[str, list[str]] = field(repr=False)
    received: float
    #: the SID the fake answered with (``None``: it refused the request)
    sid: str | None = None

    def get(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Fault:
    """What the fake does with the next ``times`` requests instead of taking them."""

    kind: FaultKind
    times: int = 1
    #: seconds a ``slow`` answer is held back
    delay: float = 2.0
    #: an ``error`` fault's Twilio error code, HTTP status and message
    code: int = 21610
    status: int = 400
    message: str = "Attempt to send to unsubscribed recipient"


@dataclass(frozen=True)
class Step:
    """One request the fake made while playing a call: where, its HTTP status, its body."""

    url: str
    status: int
    body: str


@dataclass
class CallRun:
    """What playing a call did: the text it heard (``spoken``), the requests it made."""

    sid: str
    spoken: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return (
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        {},
    )


def _answer(fault: Fault, kind: str, to: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    if fault.kind == "error":
        return _error(fault.status, fault.code, fault.message)
    return _answer_kind(fault.kind, kind, to)


def _answer_kind(
    fault: FaultKind, kind: str, to: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    if fault == "unauthorized":
        return _error(401, 20003, "Authenticate")
    if fault == "number":
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if fault == "unverified":
        if kind == "Calls":
            return _error(
                400,
                21219,
                f"The number {to} is unverified. Trial accounts may only "
                "make calls to verified numbers.",
            )
        return _error(
            400,
            21608,
            f"The number {to} is unverified. Trial accounts cannot send "
            "messages to unverified numbers; verify it at twilio.com/user/account/"
            "phone-numbers/verified, or purchase a Twilio number to send messages "
            "to unverified numbers.",
        )
    if fault == "funds":
        return _error(401, 10001, "Account is not active: insufficient funds")
    if fault == "throttled":
        status, body, _ = _error(429, 20429, "Too Many Requests")
        return status, body, {"Retry-After": "3"}
    return _error(500, 20500, "Internal Server Error")


class FakeTwilio(FakeServer[Request, Fault]):
    """A fake Twilio on 127.0.0.1 (see the module docstring). ``account_sid`` and
    ``auth_token``: the credentials it accepts (random ones by default); ``verified``: the
    numbers a trial account may reach (``None``: any); ``log_requests``: one INFO line per
    request on ``notifykit_twilio.fake`` (the sandbox's); ``play_calls``: play each call's
    TwiML in the background as soon as it is created (the sandbox), when its URLs are on this
    machine."""

    thread_name = "notifykit-twilio-fake"

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        verified: set[str] | None = None,
        log_requests: bool = False,
        play_calls: bool = False,
    ) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.verified = verified
        self.log_requests = log_requests
        self.play_calls = play_calls
        #: every resource created, by SID: its form parameters
        self.created: dict[str, Mapping[str, list[str]]] = {}
        super().__init__()

    @property
    def requests(self) -> list[Request]:
        """Every API request received, in order."""
        return self._recorded

    # -- playing Twilio's side of the webhooks ----------------------------------------------------

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """``X-Twilio-Signature`` of a request to ``url`` with ``params``, as Twilio makes it."""
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    def post(self, url: str, params: Mapping[str, str], *, signature: str | None = None) -> Step:
        """POST ``params`` to ``url`` signed (or with ``signature`` as given; ``""``: none)."""
        import requests

        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        sig = self.sign(url, params) if signature is None else signature
        if sig:
            headers["X-Twilio-Signature"] = sig
        answer = requests.post(url, data=dict(params), headers=headers, timeout=10)
        return Step(url, answer.status_code, answer.text)

    def report(self, sid: str, status: str, *, error_code: str | None = None) -> Step:
        """Post a message's status (``delivered``, ``undelivered``...) to its StatusCallback."""
        form = self.created[sid]
        url = form["StatusCallback"][0]
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": form["To"][0],
        }
        if error_code:
            params["ErrorCode"] = error_code
        return self.post(url, params)

    def play_call(self, sid: str, digits: str = "", *, status: str = "completed") -> CallRun:
        """Play call ``sid`` as the person answering it: fetch its TwiML (or read the inline
        one), hear every ``<Say>``, press ``digits`` at the first ``<Gather>`` (none: let it
        time out), follow the action's TwiML, then report ``status`` to its StatusCallback."""
        form = self.created[sid]
        run = CallRun(sid)
        base = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": form["From"][0],
            "To": form["To"][0],
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        if form.get("Url"):
            step = self.post(form["Url"][0], base)
            run.steps.append(step)
            twiml = step.body if step.status == 200 else "<Response/>"
        else:
            twiml = form.get("Twiml", ["<Response/>"])[0]
        for _ in range(5):  # a Gather's action answers TwiML of its own
            action = self._hear(twiml, run, digits)
            if action is None:
                break
            step = self.post(action, {**base, "Digits": digits, "FinishedOnKey": ""})
            run.steps.append(step)
            twiml = step.body if step.status == 200 else "<Response/>"
            digits = ""
        callback = form.get("StatusCallback")
        if callback:
            params = {**base, "CallStatus": status}
            if status == "completed":
                params["CallDuration"] = "12"
            run.steps.append(self.post(callback[0], params))
        return run

    @staticmethod
    def _hear(twiml: str, run: CallRun, digits: str) -> str | None:
        """Say what ``twiml`` says; the Gather's action when ``digits`` are pressed there."""
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            return None
        for verb in root:
            if verb.tag == "Say":
                run.spoken.append((verb.text or "").strip())
            elif verb.tag == "Gather":
                run.spoken += [(s.text or "").strip() for s in verb.iter("Say")]
                if digits:
                    return verb.get("action")
        return None

    # -- serving the API --------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._changed:
            if request.sid is not None:
                self.created[request.sid] = request.form
            super()._record(request)

    def _judge(
        self, sid: str, kind: str, headers: Mapping[str, str], form: Mapping[str, list[str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """What Twilio would answer a request the fake was not told to fail."""
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")
        if headers.get("authorization") != expected or sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        to = (form.get("To") or [""])[0]
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if self.verified is not None and to not in self.verified:
            return _answer_kind("unverified", kind, to)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if kind == "Messages" and not (form.get("Body") or [""])[0]:
            return _error(400, 21602, "Message body is required.")
        if kind == "Calls" and not form.get("Url") and not form.get("Twiml"):
            return _error(400, 21205, "Url parameter is required.")
        return 201, {}, {}

    def _serve(self, request: FakeRequest) -> None:
        body = request.read_body()
        headers = request.lowered_headers()
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        match = _PATH.fullmatch(request.path)
        if match is None:
            self._record(Request(request.path, headers, form, time.time()))
            request.answer(*_error(404, 20404, "The requested resource was not found"))
            return
        kind = match.group("kind")
        fault = self._next_fault()
        to = (form.get("To") or [""])[0]
        if fault is None:
            status, answer, extra = self._judge(match.group("sid"), kind, headers, form)
        elif fault.kind in ("drop", "slow"):
            status, answer, extra = 201, {}, {}
        else:
            status, answer, extra = _answer(fault, kind, to)
        sid = None
        if status == 201:
            sid = ("SM" if kind == "Messages" else "CA") + secrets.token_hex(16)
            answer = {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": (form.get("From") or [""])[0] or None,
                "status": "queued",
                "api_version": "2010-04-01",
                "uri": f"{request.path.removesuffix('.json')}/{sid}.json",
            }
            if kind == "Messages":
                answer["body"] = (form.get("Body") or [""])[0]
                answer["messaging_service_sid"] = (form.get("MessagingServiceSid") or [""])[
                    0
                ] or None
        self._record(Request(request.path, headers, form, time.time(), sid))
        if self.log_requests:
            log.info(
                "Twilio sandbox received POST %s: %s",
                kind,
                f"{sid} to {to}" if sid else f"refused, HTTP {status} ({answer.get('code')})",
            )
        if fault is not None and (
            fault.kind == "drop" or (fault.kind == "slow" and self._hold(fault.delay))
        ):
            request.hang_up()
            return
        request.answer(status, answer, extra)
        if sid is not None and kind == "Calls" and self.play_calls:
            threading.Thread(target=self._play, args=(sid,), daemon=True).start()

    def _play(self, sid: str) -> None:
        from notifykit.config.settings import is_loopback

        form = self.created[sid]
        urls = [*form.get("Url", []), *form.get("StatusCallback", [])]
        away = [u for u in urls if not is_loopback(urlsplit(u).hostname or "")]
        if away:  # the sandbox sends nothing off this machine, not even a signed fake request
            log.info("Twilio sandbox did not play call %s: its URLs are not on this machine", sid)
            return
        try:
            run = self.play_call(sid)
        except Exception as err:  # the sandbox's server may not be running: say so, go on
            log.info("Twilio sandbox could not play call %s: %s", sid, type(err).__name__)
            return
        log.info("Twilio sandbox played call %s: %s", sid, " / ".join(run.spoken))
