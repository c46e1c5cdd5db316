"""Playing a flow on a call: the requests Exotel's applets make to your URLs, and a transcript.

:class:`FlowPlayer` plays one flow per call, on its own thread, once the call is answered (a
connect-to-flow call the outcome rules let answer, or a call to an ExoPhone with a flow). Each
applet's requests (method, URL with query, status, ``Content-Type``, body, error) and outcome
(text spoken, keys gathered, branch taken, numbers dialled) go into a :class:`FlowRun`, readable
while it plays and waitable until it ends.

The requests follow Exotel's published applet pages (reference §13; support articles 48283
"working with passthru applet", 48285 "greeting using text from URL", 3000084635 "working with
gather applet", 3000088074 "connect applet dial whom"):

- every request is a ``GET`` (a ``HEAD`` first for text read from a URL) with the call's details
  as query parameters; redirects are never followed (a passthru's 302 *is* its answer);
- text from a URL (greeting, gather prompt) sends ``CallSid``, ``From``, ``To``,
  ``DialWhomNumber`` and ``CustomField`` (outbound calls that set it; "not applicable for IB
  calls"); Exotel GETs only after the ``HEAD`` answered 200 with ``Content-Type: text/plain``;
  the body is the text to speak, or the URL of an audio file;
- a passthru and a connect's "dial whom" URL get the call details: ``CallSid``, ``CallFrom``,
  ``CallTo``, ``CallStatus``, ``Direction``, ``Created``, ``DialCallDuration``, ``StartTime``,
  ``EndTime`` (Exotel's constant ``1970-01-01 05:30:00``), ``CallType`` (``call-attempt``, then
  ``completed`` or ``incomplete`` after a connect), ``DialWhomNumber``, ``From``, ``To``,
  ``CurrentTime``, ``CustomField`` when set, and, after a gather, ``digits`` wrapped in double
  quotes (``digits="1"``), as the passthru article warns.

UNCONFIRMED, and what the simulator does (documented-most-likely, see docs/simulator.md):

- ``Direction`` of a connect-to-flow call in applet requests: the applet pages list only
  ``incoming`` and ``outbound-dial``, so ``outbound-dial`` (the call object says
  ``outbound-api``); ``From``/``CallFrom`` is the person on the line, ``To``/``CallTo`` the
  ExoPhone, in 0-prefixed national form, as the articles' examples show them;
- a gather nobody answered sends ``digits=""`` (the quotes around nothing);
- a passthru answer other than 200 or 302, or none (timeout, refused connection), takes the
  failure branch; a greeting URL that fails speaks nothing and the flow goes on; a dial-whom URL
  that fails dials nobody (the failure branch);
- how long Exotel waits for your URL: ``applet_timeout`` (5 s by default) per request, and a
  whole flow gives up after ``max_seconds`` (60 s).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import requests

from .flows import HANGUP, NEXT, Connect, DigitQueue, Flow, Gather, Greeting, Hangup, Passthru
from .wire import is_phone_number, national_form, now_ist

__all__ = ["AppletRequest", "CallContext", "Dial", "FlowPlayer", "FlowRun", "FlowStep"]

logger = logging.getLogger(__name__)

#: Seconds the simulator waits for one applet URL to answer (Exotel's own limit is unpublished).
APPLET_TIMEOUT = 5.0
#: Seconds a whole flow may take before the simulator gives up on it: never hang on a flow.
MAX_FLOW_SECONDS = 60.0
#: Applets one run may play: a flow that loops (a branch back to a gather) stops here.
MAX_STEPS = 100
#: What a transcript keeps of an answer's body.
MAX_BODY_CHARS = 4000
#: Exotel sends this constant EndTime while a call is in progress (the epoch, in IST).
END_TIME = "1970-01-01 05:30:00"
USER_AGENT = "Exotel-Simulator"

RunState = Literal["pending", "running", "ended"]


@dataclass(frozen=True)
class AppletRequest:
    """One request an applet made: ``url`` is the full URL sent (query included), ``params``
    the query parameters the applet added; ``status`` is None when no answer came (``error``
    says why: timed out, connection refused...)."""

    method: str
    url: str
    params: dict[str, str]
    status: int | None
    content_type: str | None
    body: str
    error: str | None
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "params": self.params,
            "status": self.status,
            "content_type": self.content_type,
            "body": self.body,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Dial:
    """A number a connect applet dialled, and how that leg ended (by the outcome rules)."""

    number: str
    status: str
    duration: int

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "status": self.status, "duration": self.duration}


@dataclass(frozen=True)
class FlowStep:
    """One applet played: its position and type, its requests, and what came of it.

    ``text``/``audio_url``: what a greeting (or a gather's prompt) played; ``digits``: the keys a
    gather collected (``""`` when it timed out, with ``timed_out``); ``branch``: ``success`` or
    ``failure`` for a passthru or connect; ``dialled``: the numbers a connect rang; ``note``:
    why something did not happen (a URL that failed, no keys queued...).
    """

    index: int
    applet: str
    name: str | None
    requests: tuple[AppletRequest, ...] = ()
    text: str | None = None
    audio_url: str | None = None
    digits: str | None = None
    timed_out: bool = False
    branch: str | None = None
    dialled: tuple[Dial, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "applet": self.applet,
            "name": self.name,
            "requests": [r.to_dict() for r in self.requests],
            "text": self.text,
            "audio_url": self.audio_url,
            "digits": self.digits,
            "timed_out": self.timed_out,
            "branch": self.branch,
            "dialled": [d.to_dict() for d in self.dialled],
            "note": self.note,
        }


@dataclass(frozen=True)
class CallContext:
    """What a flow run knows of its call. ``caller`` is the person on the line (the number a
    connect-to-flow call rang, or who called the ExoPhone) and ``exophone`` the ExoPhone, both
    as Exotel writes them in applet requests; ``answered`` False (with the call's ``status``)
    means the flow never plays."""

    call_sid: str
    flow_id: str
    direction: str
    caller: str
    exophone: str
    custom_field: str | None
    created: str
    answered: bool = True
    status: str = "completed"
    missed: bool = False


@dataclass(frozen=True)
class FlowRun:
    """The transcript of one call's flow: ``state`` is ``pending`` (answered, not started),
    ``running`` or ``ended``; ``ended`` says why it ended (``hangup``, ``end of flow``,
    ``call ended``, ``not answered (busy)``, ``step limit ...``, ``deadline ...``,
    ``simulator stopped``)."""

    call_sid: str
    flow_id: str
    direction: str
    caller: str
    exophone: str
    custom_field: str | None
    state: RunState
    ended: str | None
    steps: tuple[FlowStep, ...]

    @property
    def finished(self) -> bool:
        return self.state == "ended"

    @property
    def spoken(self) -> list[str]:
        """Every text played, in order (greetings and gather prompts)."""
        return [step.text for step in self.steps if step.text is not None]

    @property
    def dialled(self) -> list[str]:
        """Every number a connect applet rang, in order."""
        return [dial.number for step in self.steps for dial in step.dialled]

    @property
    def requests(self) -> list[AppletRequest]:
        """Every applet request, in order."""
        return [request for step in self.steps for request in step.requests]

    def of(self, applet: str) -> list[FlowStep]:
        """The steps of one applet type (``"passthru"``, ``"gather"``...)."""
        return [step for step in self.steps if step.applet == applet]

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "flow_id": self.flow_id,
            "direction": self.direction,
            "from": self.caller,
            "to": self.exophone,
            "custom_field": self.custom_field,
            "state": self.state,
            "ended": self.ended,
            "spoken": self.spoken,
            "dialled": self.dialled,
            "steps": [step.to_dict() for step in self.steps],
        }


@dataclass
class _Run:
    ctx: CallContext
    flow: Flow
    state: RunState = "pending"
    ended: str | None = None
    steps: list[FlowStep] = field(default_factory=list)

    def snapshot(self) -> FlowRun:
        ctx = self.ctx
        return FlowRun(
            call_sid=ctx.call_sid,
            flow_id=ctx.flow_id,
            direction=ctx.direction,
            caller=ctx.caller,
            exophone=ctx.exophone,
            custom_field=ctx.custom_field,
            state=self.state,
            ended=self.ended,
            steps=tuple(self.steps),
        )


@dataclass
class _CallVars:
    """What changes as the flow plays: the last keys gathered, whom a connect dialled."""

    digits: str | None = None
    dial_whom: str = ""
    dial_duration: int = 0
    call_type: str = "call-attempt"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _connection_error(err: requests.RequestException, timeout: float) -> str:
    # requests' own text names the URL, which may hold a secret: say only what went wrong.
    text = str(err)
    if isinstance(err, requests.Timeout) or "timed out" in text.lower():
        return f"timed out after {timeout:g}s"
    if "refused" in text.lower():
        return "connection refused"
    reason = err.args[0] if err.args else err
    reason = getattr(reason, "reason", reason)
    return f"connection failed ({type(reason).__name__})"


def _collect(entry: str, gather: Gather) -> str:
    """The keys a gather keeps of what was pressed: up to its finish key, at most max_digits."""
    if gather.finish_on_key and gather.finish_on_key in entry:
        entry = entry.split(gather.finish_on_key, 1)[0]
    return entry[: gather.max_digits]


def _numbers(body: str) -> tuple[list[str], list[str]]:
    """The numbers a dial-whom answer names (comma, space or newline separated), and the rest."""
    tokens = [token for token in re.split(r"[\s,;]+", body.strip()) if token]
    good = [token for token in tokens if is_phone_number(token)]
    return good, [token for token in tokens if not is_phone_number(token)]


class FlowPlayer:
    """Plays flows on calls and keeps their transcripts (thread-safe).

    ``is_live(sid)`` says whether the call is still in progress (a call ended by hand stops its
    flow at the next applet); ``dial(number)`` decides how a leg a connect rings ends (status,
    seconds); ``on_end(context, run)`` is told when a flow has ended (the simulator ends incoming calls
    there, with the call's context). ``stopping`` is the simulator's: set, it ends every flow at its next applet.
    """

    def __init__(
        self,
        *,
        digits: DigitQueue,
        stopping: threading.Event,
        is_live: Callable[[str], bool],
        dial: Callable[[str], tuple[str, int]],
        on_end: Callable[[CallContext, FlowRun], None],
        applet_timeout: float = APPLET_TIMEOUT,
        gather_wait: float = 0.0,
        max_seconds: float = MAX_FLOW_SECONDS,
    ) -> None:
        self.digits = digits
        self.applet_timeout = applet_timeout
        self.gather_wait = gather_wait
        self.max_seconds = max_seconds
        self._stopping = stopping
        self._is_live = is_live
        self._dial = dial
        self._on_end = on_end
        self._changed = threading.Condition()
        self._runs: dict[str, _Run] = {}

    # --- runs -----------------------------------------------------------------------------

    def prepare(self, ctx: CallContext, flow: Flow) -> FlowRun:
        """Register the run of ``flow`` on a call; it plays once :meth:`start` is called (at
        once ``ended`` when the call is not answered)."""
        run = _Run(ctx, flow)
        if not ctx.answered:
            run.state, run.ended = "ended", f"not answered ({ctx.status})"
        with self._changed:
            self._runs[ctx.call_sid] = run
            self._changed.notify_all()
            return run.snapshot()

    def start(self, sid: str) -> None:
        """Start playing the pending run of call ``sid`` on its own thread."""
        with self._changed:
            run = self._runs.get(sid)
            if run is None or run.state != "pending":
                return
            run.state = "running"
            self._changed.notify_all()
        thread = threading.Thread(
            target=self._play, args=(run,), name=f"exotel-flow:{sid[:8]}", daemon=True
        )
        thread.start()

    def get(self, sid: str) -> FlowRun | None:
        with self._changed:
            run = self._runs.get(sid)
            return None if run is None else run.snapshot()

    def runs(self) -> list[FlowRun]:
        with self._changed:
            return [run.snapshot() for run in self._runs.values()]

    def wait(self, sid: str, timeout: float) -> FlowRun:
        """Block until the flow of call ``sid`` has ended; KeyError when the call has no flow,
        TimeoutError (saying how far it got) when it does not end in time."""
        with self._changed:
            run = self._runs.get(sid)
            if run is None:
                raise KeyError(f"call {sid!r} plays no flow (no registered flow, or no such call)")
            if not self._changed.wait_for(lambda: run.state == "ended", timeout):
                raise TimeoutError(
                    f"waited {timeout:g}s for the flow of call {sid}, but it is {run.state} "
                    f"after {len(run.steps)} applet(s)"
                )
            return run.snapshot()

    def settle(self, sid: str) -> None:
        """Wait (bounded) until call ``sid``'s flow, if it plays one, has ended: a call's final
        status comes after its flow. Never raises: a flow stuck past ``max_seconds`` is logged
        and the call ends anyway (its flow then stops at the next applet)."""
        with self._changed:
            run = self._runs.get(sid)
            if run is None:
                return
            if not self._changed.wait_for(lambda: run.state == "ended", self.max_seconds + 5):
                logger.warning("the flow of call %s did not end in time; ending the call", sid)

    def clear(self) -> None:
        """Forget every transcript (a flow still playing finishes unlisted)."""
        with self._changed:
            self._runs.clear()

    # --- playing ----------------------------------------------------------------------------

    def _add(self, run: _Run, step: FlowStep) -> None:
        with self._changed:
            run.steps.append(step)
            self._changed.notify_all()

    def _play(self, run: _Run) -> None:
        ctx, flow = run.ctx, run.flow
        deadline = time.monotonic() + self.max_seconds
        call = _CallVars()
        index = played = 0
        ended = "end of flow"
        try:
            with requests.Session() as session:
                # Applet URLs in tests are local: an HTTP_PROXY in the environment must not apply.
                session.trust_env = False
                session.headers["User-Agent"] = USER_AGENT
                while index < len(flow.applets):
                    if self._stopping.is_set():
                        ended = "simulator stopped"
                        break
                    if not self._is_live(ctx.call_sid):
                        ended = "call ended"
                        break
                    if played >= MAX_STEPS:
                        ended = f"step limit ({MAX_STEPS} applets)"
                        break
                    if time.monotonic() >= deadline:
                        ended = f"deadline ({self.max_seconds:g}s)"
                        break
                    applet = flow.applets[index]
                    step, target = self._applet(session, ctx, applet, index, call, deadline)
                    self._add(run, step)
                    played += 1
                    if isinstance(applet, Hangup) or target == HANGUP:
                        ended = "hangup"
                        break
                    index = index + 1 if target == NEXT else flow.index_of(target)
        except Exception:  # a simulator bug must end the run, not leave it "running"
            logger.exception("the flow of call %s failed", ctx.call_sid)
            ended = "simulator error (see its log)"
        # The call is told first (an incoming call ends here), so whoever waits for the flow to
        # end, or settles the call after it, finds the call ended too.
        with self._changed:
            snapshot = replace(run.snapshot(), state="ended", ended=ended)
        try:
            self._on_end(ctx, snapshot)
        except Exception:
            logger.exception("ending call %s after its flow failed", ctx.call_sid)
        with self._changed:
            run.state, run.ended = "ended", ended
            self._changed.notify_all()

    def _applet(
        self,
        session: requests.Session,
        ctx: CallContext,
        applet: Greeting | Gather | Passthru | Connect | Hangup,
        index: int,
        call: _CallVars,
        deadline: float,
    ) -> tuple[FlowStep, str]:
        step = FlowStep(index, applet.kind, applet.name)
        if isinstance(applet, Greeting):
            if applet.text is not None:
                return replace(step, text=applet.text), NEXT
            assert applet.url is not None
            return self._read(session, step, applet.url, ctx, call, deadline), NEXT
        if isinstance(applet, Gather):
            return self._gather(session, step, applet, ctx, call, deadline), NEXT
        if isinstance(applet, Passthru):
            return self._passthru(session, step, applet, ctx, call, deadline)
        if isinstance(applet, Connect):
            return self._connect(session, step, applet, ctx, call, deadline)
        return step, HANGUP

    def _read(
        self,
        session: requests.Session,
        step: FlowStep,
        url: str,
        ctx: CallContext,
        call: _CallVars,
        deadline: float,
    ) -> FlowStep:
        """Text from a URL: HEAD, and only after a 200 ``text/plain`` HEAD, GET."""
        params = {"CallSid": ctx.call_sid, "From": ctx.caller, "To": ctx.exophone}
        params["DialWhomNumber"] = call.dial_whom
        if ctx.custom_field is not None:
            params["CustomField"] = ctx.custom_field
        head = self._request(session, "HEAD", url, params, deadline)
        problem = self._not_text(head)
        if problem:
            return replace(step, requests=(head,), note=f"{problem}: nothing is played")
        got = self._request(session, "GET", url, params, deadline)
        step = replace(step, requests=(head, got))
        problem = self._not_text(got)
        if problem:
            return replace(step, note=f"{problem}: nothing is played")
        body = got.body.strip()
        if not body:
            return replace(step, note="GET answered an empty text: nothing is played")
        if re.fullmatch(r"https?://\S+", body):
            return replace(step, audio_url=body)
        return replace(step, text=body)

    @staticmethod
    def _not_text(request: AppletRequest) -> str | None:
        if request.error is not None:
            return f"{request.method} got no answer ({request.error})"
        if request.status != 200:
            return f"{request.method} answered {request.status}"
        if _media_type(request.content_type) != "text/plain":
            return (
                f"{request.method} answered Content-Type {request.content_type!r}, not text/plain"
            )
        return None

    def _gather(
        self,
        session: requests.Session,
        step: FlowStep,
        gather: Gather,
        ctx: CallContext,
        call: _CallVars,
        deadline: float,
    ) -> FlowStep:
        if gather.prompt_url is not None:
            step = self._read(session, step, gather.prompt_url, ctx, call, deadline)
        elif gather.prompt is not None:
            step = replace(step, text=gather.prompt)
        wait = max(0.0, min(self.gather_wait, deadline - time.monotonic()))
        entry = self.digits.pop(ctx.caller, wait, self._stopping)
        pressed = "" if entry is None else _collect(entry, gather)
        call.digits = pressed
        if entry is None:
            why = f"no keys queued for {ctx.caller}: the gather timed out"
            return replace(step, digits="", timed_out=True, note=_join(step.note, why))
        if not pressed:
            why = f"{entry!r} pressed: no digit before the finish key, the gather timed out"
            return replace(step, digits="", timed_out=True, note=_join(step.note, why))
        return replace(step, digits=pressed)

    def _details(self, ctx: CallContext, call: _CallVars) -> dict[str, str]:
        params = {
            "CallSid": ctx.call_sid,
            "CallFrom": ctx.caller,
            "CallTo": ctx.exophone,
            "CallStatus": "in-progress",
            "Direction": ctx.direction,
            "Created": ctx.created,
            "DialCallDuration": str(call.dial_duration),
            "StartTime": ctx.created,
            "EndTime": END_TIME,
            "CallType": call.call_type,
            "DialWhomNumber": call.dial_whom,
            "From": ctx.caller,
            "To": ctx.exophone,
            "CurrentTime": now_ist(),
        }
        if ctx.custom_field is not None:
            params["CustomField"] = ctx.custom_field
        return params

    def _passthru(
        self,
        session: requests.Session,
        step: FlowStep,
        passthru: Passthru,
        ctx: CallContext,
        call: _CallVars,
        deadline: float,
    ) -> tuple[FlowStep, str]:
        params = self._details(ctx, call)
        if call.digits is not None:
            # "This parameter comes with a double quote (") before and after the number."
            params["digits"] = f'"{call.digits}"'
        request = self._request(session, "GET", passthru.url, params, deadline)
        step = replace(step, requests=(request,))
        if request.status == 200:
            return replace(step, branch="success"), passthru.success
        if request.status == 302:
            note = None
        elif request.error is not None:
            note = f"no answer ({request.error}): the failure branch"
        else:
            note = f"answered {request.status}, neither 200 nor 302: the failure branch"
        return replace(step, branch="failure", note=note), passthru.failure

    def _connect(
        self,
        session: requests.Session,
        step: FlowStep,
        connect: Connect,
        ctx: CallContext,
        call: _CallVars,
        deadline: float,
    ) -> tuple[FlowStep, str]:
        numbers = list(connect.numbers)
        notes: list[str] = []
        if connect.url is not None:
            request = self._request(session, "GET", connect.url, self._details(ctx, call), deadline)
            step = replace(step, requests=(request,))
            problem = self._not_text(request)
            if problem:
                notes.append(f"{problem}: nobody is dialled")
            else:
                numbers, junk = _numbers(request.body)
                if junk:
                    notes.append(f"not phone numbers, not dialled: {', '.join(junk)}")
                if not numbers:
                    notes.append("the dial-whom answer names no number: nobody is dialled")
        dialled: list[Dial] = []
        for number in numbers:
            status, duration = self._dial(number)
            dial = Dial(national_form(number), status, duration if status == "completed" else 0)
            dialled.append(dial)
            call.dial_whom = dial.number
            if status == "completed":
                call.call_type, call.dial_duration = "completed", dial.duration
                step = replace(step, dialled=tuple(dialled), note="; ".join(notes) or None)
                return replace(step, branch="success"), connect.success
        call.call_type = "incomplete"
        if numbers:
            notes.append("nobody answered")
        step = replace(step, dialled=tuple(dialled), note="; ".join(notes) or None)
        return replace(step, branch="failure"), connect.failure

    def _request(
        self,
        session: requests.Session,
        method: str,
        url: str,
        params: dict[str, str],
        deadline: float,
    ) -> AppletRequest:
        timeout = max(0.05, min(self.applet_timeout, deadline - time.monotonic()))
        sent = requests.Request(method, url, params=params).prepare().url or url
        started = time.monotonic()
        status: int | None = None
        content_type: str | None = None
        body = ""
        error: str | None = None
        try:
            response = session.request(
                method, url, params=params, timeout=timeout, allow_redirects=False
            )
            status = response.status_code
            content_type = response.headers.get("Content-Type")
            body = response.content.decode("utf-8", errors="replace")[:MAX_BODY_CHARS]
            response.close()
        except requests.RequestException as err:
            error = _connection_error(err, timeout)
        return AppletRequest(
            method=method,
            url=sent,
            params=dict(params),
            status=status,
            content_type=content_type,
            body=body,
            error=error,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )


def _join(first: str | None, second: str) -> str:
    return second if first is None else f"{first}; {second}"
