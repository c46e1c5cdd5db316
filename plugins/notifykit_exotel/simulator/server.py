"""The simulator's public facade, :class:`ExotelSimulator`, and its request handling.

A loopback HTTP/1.1 server (see :mod:`.transport`) that speaks Exotel's v1 wire protocol (Basic
auth, form bodies, ``.json``/XML answers), records every request, applies injected faults and a
sliding-window rate limit, moves calls and SMS along by configurable rules (by hand, by step or on
a timer) and sends their status callbacks. Under the reserved path ``/_sim/`` the same port serves
an admin API (JSON in and out, see :mod:`.admin`) to inspect and steer it from outside Python.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hmac
import logging
import math
import random
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from ..wire import is_loopback
from . import callbacks
from .flowrun import APPLET_TIMEOUT, CallContext, FlowPlayer, FlowRun
from .flows import Applet, DigitQueue, Flow, FlowBook
from .models import CallbackAttempt, Fault, RecordedRequest
from .progression import DEFAULT_CALL_DURATION, Kind, Rules
from .recorder import Recorder, Slot
from .state import DEFAULT_SENDER_ID, CallbackKind, PendingCallback, SimState
from .transport import (
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    READ_TIMEOUT,
    BodyReadError,
    ClientGone,
    LoopbackServer,
    handler_class,
    read_body,
)
from .whatsapp import WhatsAppBook
from .whatsapp import answer as whatsapp_answer
from .wire import (
    GATEWAY_PAGE,
    Answer,
    ApiError,
    BodyError,
    Form,
    last_digits,
    parse_form,
    parse_urlencoded,
    to_json,
    to_xml,
)

logger = logging.getLogger(__name__)
#: One line per request: method, path (no query), status, milliseconds. Never a credential.
access_log = logging.getLogger("notifykit_exotel.simulator.access")

#: The reserved path prefix of the admin API (never an Exotel path, which all start ``/v1/``).
ADMIN_PREFIX = "/_sim"

_ACCOUNT_PATH = re.compile(
    r"^/(?P<version>v1|v2_beta)/Accounts/(?P<account>[^/]+)/(?P<resource>.+)$"
)

#: (method, resource pattern without ``.json``, endpoint name). The first pattern that matches
#: decides the endpoint, so ``Calls/connect`` must precede ``Calls/<sid>``.
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"Calls/connect"), "connect_call"),
    ("GET", re.compile(r"Calls"), "list_calls"),
    ("GET", re.compile(r"Calls/(?P<sid>[^/]+)/Legs"), "call_legs"),
    ("GET", re.compile(r"Calls/(?P<sid>[^/]+)"), "get_call"),
    # The Uri the reference's connect sample shows: ``Calls.json/<sid>``.
    ("GET", re.compile(r"Calls\.json/(?P<sid>[^/]+)"), "get_call"),
    ("GET", re.compile(r"Numbers/(?P<number>[^/]+)"), "number_info"),
    ("POST", re.compile(r"Sms/send"), "send_sms"),
    ("POST", re.compile(r"Sms/bulksend"), "bulk_send"),
    ("GET", re.compile(r"(?:SMS|Sms)/Messages/(?P<sid>[^/]+)"), "get_sms"),
    ("GET", re.compile(r"CustomerWhitelist/(?P<number>[^/]+)"), "whitelist"),
)
#: The v2_beta endpoints (JSON only, no ``.json`` needed): the account's ExoPhones.
_V2_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"IncomingPhoneNumbers"), "exophones"),
)

#: How long ``stop()`` waits for handler threads to let go of their connections.
_STOP_GRACE = 5.0

#: Every simulator started and not yet stopped: :func:`_stop_all` stops them at exit.
_running: set[ExotelSimulator] = set()


@atexit.register
def _stop_all() -> None:
    """Stop every simulator still running when the interpreter exits, while its threads still
    run. A simulator nobody stopped (a sandbox ``Notifier`` never closed, a test's forgotten
    ``start()``) would otherwise be stopped during finalisation by a garbage-collected context
    manager, and ``stop()`` would wait forever for a serving thread that no longer runs."""
    for simulator in list(_running):
        try:
            simulator.stop()
        except Exception:  # one failing must not leave the others running
            logger.debug("stopping %r at exit failed", simulator, exc_info=True)


@dataclass
class _FaultRule:
    fault: Fault
    remaining: int | None
    fraction: float | None
    rng: random.Random

    def matches(self, method: str, path: str) -> bool:
        if self.fault.method is not None and self.fault.method.upper() != method:
            return False
        return self.fault.path is None or re.search(self.fault.path, path) is not None


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in headers:
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if value else "Basic"
            value = f"{scheme} <redacted>"
        redacted[name] = value
    return redacted


def _is_sms(resource: str) -> bool:
    return resource.startswith(("Sms/", "SMS/"))


class ExotelSimulator:
    """A local stand-in for Exotel's v1 API, for tests, benchmarks and credential-free demos.

    Use it as a context manager (``with ExotelSimulator() as sim:``) or call ``start()`` and
    ``stop()``; it can be stopped and started again on the same port. Point a client at
    ``sim.base_url`` with account ``sid``, key ``api_key`` and token ``token``.

    How calls and SMS end is set by rules (:meth:`set_outcome`, :meth:`set_outcome_fraction`,
    :meth:`mark_dnd`); they move along when a test calls :meth:`advance` or :meth:`complete`
    (deterministic, no sleeping), by hand with :meth:`deliver_sms`/:meth:`complete_call`, or by
    themselves every ``progress_delay`` seconds with ``auto_progress``.

    ``sender_id`` is the sender ID (DLT header) linked to the account's ExoPhones: an SMS whose
    ``From`` is an ExoPhone is echoed as ``<ExoPhone>/<sender_id>``, as Exotel echoes every SMS
    (reference §5.1); ``None`` for an account without one (the ExoPhone is then echoed alone).

    Calls can play Exotel call flows (:meth:`add_flow`): a connect-to-flow call that is answered
    runs its flow's applets against your URLs (greeting text read with HEAD then GET, keys queued
    with :meth:`queue_digits` pressed at a gather, passthru branching on 200/302, connect dialling
    whom a URL names), and :meth:`missed_call` / :meth:`incoming_call` call an ExoPhone whose flow
    was attached. ``applet_timeout`` bounds each applet request, ``gather_wait`` is how long a
    gather with no keys queued waits for some (0: it times out at once). See :mod:`.flowrun`.

    ``retry_after`` adds ``Retry-After`` to the rate limiter's 429s (off by default: the
    reference calls the header unconfirmed, so clients must cope without it). ``clock`` is the
    rate limiter's time source (seconds, monotonic), replaceable to slide the window in tests.
    """

    def __init__(
        self,
        sid: str = "ACsim",
        token: str = "sim-token",
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 200,
        rate_window: float = 60.0,
        auto_progress: bool = False,
        progress_delay: float = 0.2,
        exophones: Iterable[str] | None = None,
        accept_legacy_auth: bool = True,
        *,
        retry_after: bool = False,
        call_duration: int = DEFAULT_CALL_DURATION,
        max_body_bytes: int = MAX_BODY_BYTES,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        clock: Callable[[], float] | None = None,
        sender_id: str | None = DEFAULT_SENDER_ID,
        applet_timeout: float = APPLET_TIMEOUT,
        gather_wait: float = 0.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"the Exotel simulator only listens on loopback (127.0.0.1, ::1 or localhost), "
                f"not on {host!r}: it accepts known credentials"
            )
        if rate_limit < 1 or rate_window <= 0:
            raise ValueError("rate_limit must be >= 1 and rate_window > 0")
        if progress_delay < 0:
            raise ValueError("progress_delay must be >= 0 seconds")
        if max_body_bytes < 1 or read_timeout <= 0 or max_connections < 1:
            raise ValueError("max_body_bytes, read_timeout and max_connections must be positive")
        self.sid = sid
        self.token = token
        self.api_key = api_key if api_key is not None else sid
        self.host = host
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.retry_after = retry_after
        self.auto_progress = auto_progress
        self.progress_delay = progress_delay
        self.accept_legacy_auth = accept_legacy_auth
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._port = port
        self._rules = Rules(call_duration)
        self._state = SimState(
            sid, exophones, on_created=self._on_created, rules=self._rules, sender_id=sender_id
        )
        self._lifecycle = threading.Lock()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._requests: Recorder[RecordedRequest] = Recorder("requests")
        self._callbacks: Recorder[CallbackAttempt] = Recorder("callbacks")
        self._fault_lock = threading.Lock()
        self._faults: list[_FaultRule] = []
        self._rate_lock = threading.Lock()
        self._rate: dict[str, deque[float]] = {}
        #: the WhatsApp messages and approved templates (``POST /v2/accounts/<sid>/messages``)
        self.whatsapp = WhatsAppBook()
        self._clock: Callable[[], float] = clock or time.monotonic
        self._timer_lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._handler = handler_class(self._serve)
        self._flowbook = FlowBook()
        self._player = FlowPlayer(
            digits=DigitQueue(),
            stopping=self._stopping,
            is_live=lambda sid: self._state.call_status(sid) == "in-progress",
            dial=self._dial,
            on_end=self._flow_ended,
        )
        self.applet_timeout = applet_timeout
        self.gather_wait = gather_wait
        # Flow calls created by the request a handler thread is serving: their flows start once
        # the connect answer is written, as Exotel rings the person after answering the API.
        self._created_flows = threading.local()

    def __repr__(self) -> str:
        # Never the token: reprs end up in logs and test output.
        where = f"{self.base_url}" if self.running else "not running"
        return f"<ExotelSimulator sid={self.sid!r} {where}>"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ExotelSimulator:
        """Start serving (on the same port as before after a ``stop()``); returns self.

        Raises :class:`~.transport.PortInUseError` (an ``OSError``) when the port is taken: the
        simulator never shares a port, where a client could reach whatever else listens there.
        """
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = LoopbackServer(
                (self.host, self._port),
                self._handler,
                read_timeout=self.read_timeout,
                max_connections=self.max_connections,
            )
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"exotel-simulator:{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            _running.add(self)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; state and recordings are kept."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            _running.discard(self)
            if sys.is_finalizing():
                # Stopped by garbage collection as the interpreter exits (a sandbox whose
                # Notifier was never closed): the serving thread, a daemon, runs no more, so
                # shutdown() and join() would wait for it forever. Close the socket and go. (The
                # atexit hook above normally stopped it before this, while it still ran.)
                server.server_close()
                self._server = self._thread = None
                return
            self._stopping.set()  # wakes handlers sleeping in a delay fault
            self._player.digits.wake()  # and gathers waiting for keys
            server.begin_close()
            server.shutdown()
            server.server_close()
            thread.join()
            server.close_connections(_STOP_GRACE)
            self._cancel_timers()
            self._server = self._thread = None

    def __enter__(self) -> ExotelSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port; known once the simulator has been started."""
        if self._port == 0:
            raise RuntimeError("the simulator has not been started yet")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` (``http://[::1]:<port>`` for IPv6), no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def admin_url(self) -> str:
        """The admin API's base URL: ``<base_url>/_sim``."""
        return self.base_url + ADMIN_PREFIX

    # --- recordings ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a snapshot copy; admin calls excluded)."""
        return self._requests.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or None."""
        return self._requests.last()

    def requests_to(
        self, number: str, *, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """The recorded requests addressed to ``number`` (matched on its last 10 digits, in any
        form: ``To``, ``To[i]``, ``Messages[i][To]``, comma lists), optionally only those with
        ``method`` and whose path matches the regex ``path``. A bulk request to several numbers
        counts once for each."""
        wanted = last_digits(number)
        return [
            request
            for request in self._requests.snapshot()
            if (method is None or request.method == method.upper())
            and (path is None or re.search(path, request.path))
            and any(last_digits(to) == wanted for to in request.recipients)
        ]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived (for code that sends from another thread);
        return them all. A request still being answered shows ``status`` 0."""
        return self._requests.wait_for(n, timeout)

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        """Every status callback attempted so far (a snapshot copy)."""
        return self._callbacks.snapshot()

    def wait_for_callbacks(self, n: int, timeout: float = 5.0) -> list[CallbackAttempt]:
        """Block until at least ``n`` callbacks were attempted; return them all."""
        return self._callbacks.wait_for(n, timeout)

    def clear(self) -> None:
        """Forget recorded requests and callbacks (calls, SMS, rules and faults are kept)."""
        self._requests.clear()
        self._callbacks.clear()

    def reset(self) -> None:
        """Back to a fresh account: clear(), forget calls/SMS/number info, rules, rate window,
        faults."""
        self._cancel_timers()
        self.clear()
        self._state.reset()
        self._rules.clear()
        self.clear_faults()
        self.clear_flows()
        self._player.digits.clear()
        self._player.clear()
        with self._rate_lock:
            self._rate.clear()

    # --- faults -------------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        times: int | None = None,
        *,
        fraction: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (default 1), or to a
        ``fraction`` of matching requests (deterministic for a given ``seed``) until
        ``clear_faults()``. Faults apply in the order injected; the first that fires wins."""
        if fraction is not None:
            if times is not None:
                raise ValueError("pass either times or fraction, not both")
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("fraction must be between 0 and 1")
        elif times is None:
            times = 1
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        rule = _FaultRule(fault, times, fraction, random.Random(seed))
        with self._fault_lock:
            self._faults.append(rule)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._fault_lock:
            self._faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The pending faults: each fault's fields plus ``times`` left or ``fraction``."""
        with self._fault_lock:
            return [
                {**rule.fault.to_dict(), "times": rule.remaining, "fraction": rule.fraction}
                for rule in self._faults
            ]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._fault_lock:
            for rule in self._faults:
                if not rule.matches(method, path):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                    return rule.fault
                if rule.fraction is not None and rule.rng.random() < rule.fraction:
                    return rule.fault
        return None

    # --- state, rules and progression ---------------------------------------------------------

    @property
    def calls(self) -> dict[str, dict[str, Any]]:
        """Call Sid -> current Call object (copies)."""
        return self._state.calls()

    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        """SMS Sid -> current SMSMessage object (copies)."""
        return self._state.messages()

    def set_number_info(
        self,
        number: str,
        *,
        dnd: bool | None = None,
        operator: str | None = None,
        circle: str | None = None,
        operator_name: str | None = None,
        circle_name: str | None = None,
        number_type: str | None = None,
    ) -> None:
        """Pin what ``GET Numbers/<number>`` answers (matched on the last 10 digits)."""
        self._state.set_number_info(
            number,
            dnd=dnd,
            operator=operator,
            circle=circle,
            operator_name=operator_name,
            circle_name=circle_name,
            number_type=number_type,
        )

    def mark_dnd(self, number: str, dnd: bool = True) -> None:
        """Put ``number`` on (or take it off) the DND registry: ``Numbers/<n>`` answers
        ``DND: Yes``, and a promotional SMS (``SmsType=promotional``) to it ends ``failed_dnd``.

        Without this, numbers ending in 7 are DND (the simulator's deterministic default)."""
        self._state.set_number_info(number, dnd=dnd)

    # --- the account: ExoPhones, whitelist, KYC, credentials ----------------------------------

    @property
    def account(self) -> dict[str, Any]:
        """The account's standing as JSON-ready data: ``kyc``, ``credentials``, ``exophones``
        (number, voice, sms), whether calls are held to them, and the customer whitelist."""
        return self._state.account.describe()

    @property
    def exophones(self) -> list[dict[str, Any]]:
        """The account's ExoPhones (what ``IncomingPhoneNumbers`` lists): number, voice, sms."""
        return self._state.account.exophones()

    def add_exophone(self, number: str, *, voice: bool = True, sms: bool = True) -> None:
        """Give the account an ExoPhone (or change one's capabilities: ``voice=False`` makes
        calls from it refused once the account's ExoPhones are enforced)."""
        self._state.account.add_exophone(number, voice=voice, sms=sms)

    def remove_exophone(self, number: str) -> bool:
        """Take an ExoPhone away (whether it was one). From then on calls are held to the
        account's ExoPhones: a ``CallerId`` not among them is refused with 400."""
        return self._state.account.remove_exophone(number)

    def set_whitelist(
        self,
        number: str,
        status: str = "Whitelist",
        *,
        kind: str = "API",
        expiry: int | None = None,
    ) -> None:
        """Set what ``CustomerWhitelist/<number>`` answers: ``Whitelist`` (for ``expiry``
        seconds, six months by default), ``Blacklist`` (the person opted out) or ``Neutral``
        (nobody whitelisted it: every number's answer until then)."""
        self._state.account.set_whitelist(number, status, kind=kind, expiry=expiry)

    def set_kyc_pending(self, pending: bool = True) -> None:
        """An account whose KYC is not done: calls and SMS are refused with 403 as Exotel
        refuses them (voice without a code, SMS with code 340030), and so are the account's
        lookups (ExoPhones, number metadata, whitelist): see :mod:`.account`."""
        self._state.account.kyc_pending = pending

    def revoke_credentials(self, revoked: bool = True) -> None:
        """Make every API request answer 401 (``Authentication failed``, code 34010), as for a
        key or token revoked on the dashboard; ``False`` accepts them again."""
        self._state.account.credentials_revoked = revoked

    def set_outcome(
        self,
        number: str,
        outcome: str,
        *,
        kind: Kind | None = None,
        duration: int | None = None,
        detailed_status_code: int | None = None,
    ) -> None:
        """Make every later call or SMS to ``number`` end ``outcome``.

        Calls end ``completed|busy|no-answer|failed|canceled`` (``duration`` seconds when
        answered; unanswered calls last 0); SMS end ``sent|failed|failed_dnd`` (with
        ``detailed_status_code``, e.g. 23035, or the usual code for the status). ``failed`` fits
        both kinds; ``kind="call"`` or ``"sms"`` limits the rule to one.
        """
        self._rules.set_outcome(
            number,
            outcome,
            kind=kind,
            duration=duration,
            detailed_status_code=detailed_status_code,
        )

    def set_outcome_fraction(
        self, outcome: str, fraction: float, *, kind: Kind | None = None, seed: int | None = None
    ) -> None:
        """Make a ``fraction`` of later calls/SMS (those no per-number rule covers) end
        ``outcome``; deterministic for a ``seed`` and a creation order."""
        self._rules.set_outcome_fraction(outcome, fraction, kind=kind, seed=seed)

    def clear_rules(self) -> None:
        """Forget outcome rules (DND marks stay: they are number metadata)."""
        self._rules.clear()

    @property
    def rules(self) -> dict[str, Any]:
        """The outcome rules as JSON-ready data."""
        return self._rules.describe()

    @property
    def call_duration(self) -> int:
        """Seconds an answered call lasts unless a rule says otherwise."""
        return self._rules.call_duration

    @call_duration.setter
    def call_duration(self, seconds: int) -> None:
        if seconds < 1:
            raise ValueError("call_duration must be at least 1 second")
        self._rules.call_duration = seconds

    def advance(self, sid: str | None = None) -> list[CallbackAttempt]:
        """Move one call/SMS (or, without ``sid``, every unfinished one, oldest first) one step
        along its plan and send the callbacks that became due.

        An SMS goes ``queued → sending → submitted →`` its final status (three steps before the
        callback); a call goes to its final status in one step. Returns the callback attempts.
        """
        targets = [sid] if sid is not None else [s for _, s in self._state.unfinished()]
        attempts: list[CallbackAttempt] = []
        for each in targets:
            self._player.settle(each)  # a call ends after its flow
            _, pending = self._state.advance(each)
            attempts += self._send_callbacks(pending)
        return attempts

    def complete(self, sid: str | None = None) -> list[CallbackAttempt]:
        """Drive one call/SMS (or every unfinished one) to its final state by its plan, sending
        its callbacks; returns the attempts. Deterministic: no timer, no sleep."""
        targets = [sid] if sid is not None else [s for _, s in self._state.unfinished()]
        attempts: list[CallbackAttempt] = []
        for each in targets:
            self._player.settle(each)  # a call ends after its flow
            final = False
            while not final:
                final, pending = self._state.advance(each)
                attempts += self._send_callbacks(pending)
        return attempts

    # --- call flows: applets, keys, missed and incoming calls -------------------------------

    def add_flow(
        self,
        flow_id: str,
        applets: Iterable[Applet | Mapping[str, Any]],
        *,
        exophone: str | None = None,
    ) -> Flow:
        """Register a flow (replacing one with the same id): ``flow_id`` as in the flow URL
        ``http://my.exotel.com/<sid>/exoml/start_voice/<flow_id>`` (or a whole flow URL), and its
        applets in order, as :mod:`.flows` objects or dicts (``{"type": "passthru", "url": ...,
        "success": "next", "failure": "hangup"}``). ``exophone`` also attaches it to that
        ExoPhone for incoming and missed calls. ValueError names a bad applet or branch."""
        flow = Flow.build(flow_id, applets)
        self._flowbook.add(flow)
        if exophone is not None:
            self._flowbook.attach(exophone, flow.flow_id)
        return flow

    def attach_flow(self, exophone: str, flow_id: str) -> None:
        """Play ``flow_id`` for every call to ``exophone`` (:meth:`missed_call`,
        :meth:`incoming_call`); ValueError when the flow is not registered."""
        self._flowbook.attach(exophone, flow_id)

    def clear_flows(self) -> None:
        """Forget every flow and every ExoPhone's flow (transcripts stay)."""
        self._flowbook.clear()

    @property
    def flows(self) -> dict[str, Any]:
        """``{"flows": {flow id: {"flow_id", "applets": [...]}}, "exophones": {ExoPhone: flow
        id}}`` as JSON-ready data."""
        return self._flowbook.describe()

    def queue_digits(self, number: str, *digits: str) -> None:
        """Queue what ``number`` presses at its next gathers, one entry per gather, in order:
        ``queue_digits("+919876543210", "1")``; ``""`` lets a gather time out. A gather with
        nothing queued times out (see ``gather_wait``)."""
        self._player.digits.push(number, *digits)

    @property
    def queued_digits(self) -> dict[str, list[str]]:
        """The keys still queued, by the number's last 10 digits."""
        return self._player.digits.describe()

    def clear_digits(self) -> None:
        """Forget every queued key."""
        self._player.digits.clear()

    def missed_call(self, from_number: str, exophone: str) -> str:
        """``from_number`` gives ``exophone`` a missed call: the flow attached to the ExoPhone
        plays as for an incoming call (``Direction=incoming``, ``From`` the caller, ``To`` the
        ExoPhone), and the call ends ``no-answer`` (never picked up, not charged; the final
        status of a missed call is UNCONFIRMED). Returns the CallSid; ValueError when no flow is
        attached to the ExoPhone."""
        return self._incoming(from_number, exophone, missed=True)

    def incoming_call(self, from_number: str, exophone: str) -> str:
        """``from_number`` calls ``exophone`` and Exotel picks up: the ExoPhone's flow plays (a
        connect applet can ring whom a URL names) and the call ends ``completed``. Returns the
        CallSid; ValueError when no flow is attached to the ExoPhone."""
        return self._incoming(from_number, exophone, missed=False)

    def flow_run(self, sid: str) -> FlowRun | None:
        """The flow transcript of call ``sid`` so far, or None when it plays no flow."""
        return self._player.get(sid)

    @property
    def flow_runs(self) -> list[FlowRun]:
        """Every flow transcript, oldest first."""
        return self._player.runs()

    def wait_for_flow(self, sid: str, timeout: float = 5.0) -> FlowRun:
        """Block until the flow of call ``sid`` has ended and return its transcript; KeyError
        when the call plays no flow, TimeoutError when it does not end in time."""
        return self._player.wait(sid, timeout)

    @property
    def applet_timeout(self) -> float:
        """Seconds each applet request waits for your URL (then: no answer)."""
        return self._player.applet_timeout

    @applet_timeout.setter
    def applet_timeout(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError("applet_timeout must be > 0 seconds")
        self._player.applet_timeout = float(seconds)

    @property
    def gather_wait(self) -> float:
        """Seconds a gather with no keys queued waits for some to be queued (0: none)."""
        return self._player.gather_wait

    @gather_wait.setter
    def gather_wait(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError("gather_wait must be >= 0 seconds")
        self._player.gather_wait = float(seconds)

    def _incoming(self, caller: str, exophone: str, *, missed: bool) -> str:
        flow = self._flowbook.for_exophone(exophone)
        if flow is None:
            raise ValueError(
                f"no flow is attached to ExoPhone {exophone}: add_flow(..., exophone=) or "
                "attach_flow() first"
            )
        sid = self._state.incoming_call(caller, exophone)
        call = self._state.calls()[sid]
        context = CallContext(
            call_sid=sid,
            flow_id=flow.flow_id,
            direction="incoming",
            caller=call["From"],
            exophone=call["To"],
            custom_field=None,  # "Not applicable for IB calls"
            created=call["DateCreated"],
            missed=missed,
        )
        self._player.prepare(context, flow)
        self._player.start(sid)
        return sid

    def _prepare_flow(self, sid: str) -> bool:
        """Register the flow run of a new connect-to-flow call; whether one must start."""
        call = self._state.flow_call(sid)
        if call is None:
            return False
        flow = self._flowbook.lookup(call.url)
        if flow is None:
            return False  # a flow the test never registered: the call only rings, as before
        answered = call.plan.status == "completed"
        context = CallContext(
            call_sid=sid,
            flow_id=flow.flow_id,
            direction="outbound-dial",
            caller=call.caller,
            exophone=call.exophone,
            custom_field=call.custom_field,
            created=call.created,
            answered=answered,
            status=call.plan.status,
        )
        self._player.prepare(context, flow)
        return answered

    def _start_flows(self) -> None:
        sids: list[str] = getattr(self._created_flows, "sids", [])
        self._created_flows.sids = []
        for sid in sids:
            self._player.start(sid)

    def _dial(self, number: str) -> tuple[str, int]:
        plan = self._rules.plan_call(number)
        return plan.status, plan.duration

    def _flow_ended(self, context: CallContext, run: FlowRun) -> None:
        if context.direction != "incoming":
            return  # a connect-to-flow call ends by its plan (advance, complete, auto-progress)
        dials = [dial for step in run.steps for dial in step.dialled]
        last = dials[-1] if dials else None
        self._state.finish_incoming(
            run.call_sid,
            "no-answer" if context.missed else "completed",
            self.call_duration,
            None if last is None else last.number,
            None if last is None else last.status,
        )

    def deliver_sms(
        self,
        sid: str,
        status: str = "sent",
        detailed_status_code: int | None = None,
        sms_units: int | None = None,
    ) -> CallbackAttempt | None:
        """Move an SMS to ``status`` and, when terminal and subscribed, send its callback.

        ``detailed_status_code`` defaults to the usual code for the status (sent → 20005,
        failed → 23010, failed_dnd → 23005, ...); ``sms_units`` to the units computed at send.
        Returns the callback attempt, or None when no callback was due.
        """
        pending = self._state.deliver_sms(sid, status, detailed_status_code, sms_units)
        attempts = self._send_callbacks([] if pending is None else [pending])
        return attempts[0] if attempts else None

    def complete_call(
        self,
        sid: str,
        status: str = "completed",
        duration: int = DEFAULT_CALL_DURATION,
        answered_by: str | None = "Human",
        recording: bool | None = None,
    ) -> list[CallbackAttempt]:
        """End a call with a terminal ``status`` and send its callbacks.

        When the call subscribed to ``answered`` and ``status`` is completed, an ``answered``
        event goes first, then the terminal one. An unanswered call's Duration is 0 whatever
        ``duration`` says. ``recording`` None follows the request's ``Record`` flag; True/False
        force a RecordingUrl on or off. Returns the attempts.
        """
        return self._send_callbacks(
            self._state.complete_call(sid, status, duration, answered_by, recording)
        )

    def _send_callbacks(self, pending: list[PendingCallback]) -> list[CallbackAttempt]:
        attempts = []
        for callback in pending:
            attempt = callbacks.send(callback)
            self._callbacks.add(attempt)
            attempts.append(attempt)
        return attempts

    def _on_created(self, kind: CallbackKind, sid: str) -> None:
        if kind == "call" and self._prepare_flow(sid):
            pending: list[str] = getattr(self._created_flows, "sids", [])
            self._created_flows.sids = [*pending, sid]
        if self.auto_progress:
            self._schedule(sid)

    def _schedule(self, sid: str) -> None:
        timer = threading.Timer(self.progress_delay, self._auto_step, args=(sid,))
        timer.daemon = True
        with self._timer_lock:
            self._timers.add(timer)
        timer.start()

    def _auto_step(self, sid: str) -> None:
        with self._timer_lock:
            self._timers = {t for t in self._timers if t is not threading.current_thread()}
        try:
            # A test may already have moved it along; advancing a final item does nothing.
            self._player.settle(sid)  # a call ends after its flow
            final, pending = self._state.advance(sid)
            self._send_callbacks(pending)
        except (KeyError, ValueError):
            logger.debug("auto-progress skipped %s", sid, exc_info=True)
            return
        if not final and self.auto_progress and not self._stopping.is_set():
            self._schedule(sid)

    def _cancel_timers(self) -> None:
        with self._timer_lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    # --- request handling ---------------------------------------------------------------------

    def _record(self, entry: RecordedRequest) -> Slot:
        return self._requests.add(entry)

    def _finish(self, slot: Slot, status: int, arrived: float) -> None:
        ms = (time.monotonic() - arrived) * 1000
        self._requests.update(
            slot, lambda request: replace(request, status=status, duration_ms=round(ms, 3))
        )

    @staticmethod
    def _log(method: str, path: str, status: int | None, arrived: float) -> None:
        if access_log.isEnabledFor(logging.INFO):
            ms = (time.monotonic() - arrived) * 1000
            shown = "-" if status is None else str(status)
            # The path only: no query string, no headers, so never a credential.
            access_log.info("%s %s %s %.1fms", method, path, shown, ms)

    def _serve(self, handler: Any) -> None:
        arrived = time.monotonic()
        method = handler.command.upper()
        target = handler.path
        if "://" in target.split("?", 1)[0]:
            # The absolute form a client sends through an HTTP proxy (RFC 9112 3.2.2): a server
            # must accept it. Keep the path and query.
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        path, _, query_text = target.partition("?")
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            from .admin import serve_admin

            answer = self._guarded_admin(serve_admin, handler, method, path, query_text)
            self._write(handler, answer)
            self._log(method, path, answer.status, arrived)
            return
        # ``Calls.json/<sid>`` is the Uri form of the reference's connect sample: JSON too.
        as_json = path.endswith(".json") or "/Calls.json/" in path or path.startswith("/v2")
        credentials = _basic_auth(handler.headers.get("Authorization"))
        query = parse_urlencoded(query_text)
        try:
            body = read_body(handler, self.max_body_bytes)
        except ClientGone:
            handler.close_connection = True
            self._log(method, path, None, arrived)
            return
        except BodyReadError as err:
            slot = self._record(self._entry(handler, method, path, query, {}, b"", credentials))
            answer = self._render(err.status, ApiError(err.status, err.message).body(), as_json)
            answer.close = True  # the rest of the stream cannot be trusted
            self._finish(slot, answer.status, arrived)
            self._write(handler, answer)
            self._log(method, path, answer.status, arrived)
            return
        decode_error: BodyError | None = None
        try:
            form = parse_form(
                body, handler.headers.get("Content-Type", ""), max_bytes=self.max_body_bytes
            )
        except BodyError as err:
            form, decode_error = {}, err
        slot = self._record(self._entry(handler, method, path, query, form, body, credentials))
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay > 0 and self._stopping.wait(fault.delay):
                handler.close_connection = True  # stopped while sleeping: just hang up
                return
            if fault.drop:
                handler.close_connection = True
                self._log(method, path, None, arrived)
                return
            if fault.answers:
                answer = self._fault_answer(fault, as_json)
                self._finish(slot, answer.status, arrived)
                self._write(handler, answer)
                self._log(method, path, answer.status, arrived)
                return
        if decode_error is not None:
            answer = self._render(400, ApiError(400, str(decode_error)).body(), as_json)
        else:
            answer = whatsapp_answer(
                self.whatsapp, self._admit_whatsapp, method, path, body, credentials
            ) or self._answer(method, path, query, form, credentials, as_json)
        self._finish(slot, answer.status, arrived)
        self._write(handler, answer)
        self._start_flows()
        self._log(method, path, answer.status, arrived)

    def _guarded_admin(
        self, serve_admin: Callable[..., Answer], handler: Any, *args: Any
    ) -> Answer:
        try:
            body = read_body(handler, self.max_body_bytes)
        except (ClientGone, BodyReadError) as err:
            status = err.status if isinstance(err, BodyReadError) else 400
            return Answer(status, to_json({"error": str(err)}), "application/json", {}, True)
        try:
            return serve_admin(self, *args, body)
        except Exception:
            logger.exception("simulator admin failed on %s", args[1])
            return Answer(500, to_json({"error": "internal error"}), "application/json", {})

    @staticmethod
    def _entry(
        handler: Any,
        method: str,
        path: str,
        query: Form,
        form: Form,
        body: bytes,
        credentials: tuple[str, str] | None,
    ) -> RecordedRequest:
        return RecordedRequest(
            method=method,
            path=path,
            query=query,
            form=form,
            headers=_redact(handler.headers.items()),
            body=body,
            status=0,
            time=time.monotonic(),
            auth_user=credentials[0] if credentials else None,
        )

    @staticmethod
    def _render(
        status: int, payload: Any, as_json: bool, headers: dict[str, str] | None = None
    ) -> Answer:
        if as_json:
            return Answer(status, to_json(payload), "application/json", dict(headers or {}))
        return Answer(status, to_xml(payload), "application/xml", dict(headers or {}))

    def _fault_answer(self, fault: Fault, as_json: bool) -> Answer:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.non_json:
            status = fault.status or 502
            page = GATEWAY_PAGE.format(status=status).replace(
                "Bad Gateway", HTTPStatus(status).phrase
            )
            return Answer(status, page.encode("utf-8"), "text/html", headers)
        status = fault.status or 500
        error = ApiError(status, fault.message or HTTPStatus(status).phrase, fault.code)
        return self._render(status, error.body(), as_json, headers)

    def _answer(
        self,
        method: str,
        path: str,
        query: Form,
        form: Form,
        credentials: tuple[str, str] | None,
        as_json: bool,
    ) -> Answer:
        try:
            status, payload = self._route(method, path, query, form, credentials)
            return self._render(status, payload, as_json)
        except ApiError as err:
            return self._render(err.status, err.body(), as_json, err.headers)
        except Exception:
            # A simulator bug: answer like Exotel's 500 so the client under test sees a server
            # error instead of a dropped connection, and log it loudly for whoever runs the test.
            logger.exception("simulator failed on %s %s", method, path)
            error = ApiError(500, "Internal Server Error", 35000)
            return self._render(500, error.body(), as_json)

    def _authenticate(self, account: str, credentials: tuple[str, str] | None) -> None:
        users = {self.api_key} | ({self.sid} if self.accept_legacy_auth else set())
        valid = (
            not self._state.account.credentials_revoked
            and credentials is not None
            and credentials[0] in users
            and hmac.compare_digest(credentials[1].encode(), self.token.encode())
        )
        if not valid:
            raise ApiError(401, "Authentication failed", 34010)
        if account != self.sid:
            # Valid credentials, but for another account than the SID in the path.
            raise ApiError(403, "Forbidden: these credentials cannot act for this account", 34009)

    def _admit_whatsapp(self, account: str, credentials: tuple[str, str] | None) -> None:
        """A WhatsApp request's account: authenticated, then within its rate limit."""
        self._authenticate(account, credentials)
        self._admit(account, "POST", "messages")

    def _admit(self, account: str, method: str, resource: str) -> None:
        """Sliding-window rate limit per account; raises 429 when the window is full.

        SMS endpoints answer with the SMS codes (40402 for POSTs, 40403 for GETs); voice and
        number lookups carry no code, as Exotel's voice errors do not. ``Retry-After`` is sent
        only when the simulator was configured with it.
        """
        with self._rate_lock:
            now = self._clock()
            window = self._rate.setdefault(account, deque())
            while window and window[0] <= now - self.rate_window:
                window.popleft()
            if len(window) >= self.rate_limit:
                headers = {}
                if self.retry_after:
                    wait = max(1, math.ceil(window[0] + self.rate_window - now))
                    headers["Retry-After"] = str(wait)
                code = (40402 if method == "POST" else 40403) if _is_sms(resource) else None
                raise ApiError(429, "Too Many Requests", code, headers=headers)
            window.append(now)

    def _route(
        self,
        method: str,
        path: str,
        query: Form,
        form: Form,
        credentials: tuple[str, str] | None,
    ) -> tuple[int, Any]:
        match = _ACCOUNT_PATH.match(path)
        if match is None:
            raise ApiError(404, f"The requested resource {path} was not found")
        account = unquote(match["account"])
        resource = match["resource"]
        if resource.endswith(".json"):
            resource = resource[: -len(".json")]
        self._authenticate(account, credentials)
        self._admit(account, method, resource)
        routes = _V2_ROUTES if match["version"] == "v2_beta" else _ROUTES
        for route_method, pattern, endpoint in routes:
            found = pattern.fullmatch(resource)
            if found is None:
                continue
            if route_method != method:
                raise ApiError(
                    405, f"Method {method} not allowed on {path}", headers={"Allow": route_method}
                )
            args = {key: unquote(value) for key, value in found.groupdict().items()}
            self._state.account.refuse_for_kyc(endpoint)
            args["uri"] = path
            return 200, self._endpoint(endpoint, args, query, form)
        raise ApiError(404, f"The requested resource {path} was not found")

    def _endpoint(self, name: str, args: dict[str, str], query: Form, form: Form) -> Any:
        state = self._state
        handlers: dict[str, Callable[[], Any]] = {
            "connect_call": lambda: state.connect_call(form),
            "list_calls": lambda: state.list_calls(query),
            "call_legs": lambda: state.call_legs(args["sid"]),
            "get_call": lambda: state.get_call(args["sid"], query),
            "number_info": lambda: state.number_info(args["number"]),
            "send_sms": lambda: state.send_sms(form),
            "bulk_send": lambda: state.bulk_send(form),
            "get_sms": lambda: state.get_sms(args["sid"]),
            "whitelist": lambda: state.account.whitelist(args["number"]),
            "exophones": lambda: state.account.list_exophones(query, args["uri"]),
        }
        return handlers[name]()

    @staticmethod
    def _write(handler: Any, answer: Answer) -> None:
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            # Say so when the connection ends here (the answer's choice, or the client asked
            # with "Connection: close"), so a pooling client never reuses a closing socket.
            if answer.close or handler.close_connection:
                handler.send_header("Connection", "close")  # also sets close_connection
            handler.end_headers()
            handler.wfile.write(answer.body)
            handler.wfile.flush()
        except OSError:
            # The client gave up (a read timeout on a delayed fault): nothing left to answer.
            handler.close_connection = True
