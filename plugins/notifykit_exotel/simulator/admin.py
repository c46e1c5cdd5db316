"""The simulator's admin API: inspect and steer a running simulator over HTTP, with JSON.

Served on the simulator's own loopback port under the reserved prefix ``/_sim`` (Exotel's paths
all start with ``/v1/``), so a simulator started from the command line can be driven from a shell,
another language or a test in another process. Admin requests need no credentials (the simulator
listens on loopback only), are not recorded among ``requests`` and do not count against the rate
limit. Every answer is JSON; an error is ``{"error": "<what is wrong and how to fix it>"}``. The
endpoints are listed in ``docs/simulator.md`` and by ``GET /_sim``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .models import Fault
from .whatsapp import ADMIN as WHATSAPP_ADMIN
from .whatsapp import admin_handlers as whatsapp_admin
from .wire import AdminError, Answer, json_object, parse_urlencoded, to_json

if TYPE_CHECKING:
    from .server import ExotelSimulator

#: (method, path after /_sim) -> what it does; ``GET /_sim`` answers this table.
ENDPOINTS: dict[str, str] = {
    "GET /_sim": "this list, the account SID and the base URL",
    "GET /_sim/requests": "recorded requests; filters ?to=<number>&method=<M>&path=<regex>",
    "DELETE /_sim/requests": "forget recorded requests and callback attempts",
    "GET /_sim/callbacks": "status callback attempts",
    "GET /_sim/calls": "every call, by Sid",
    "GET /_sim/messages": "every SMS, by Sid",
    "GET /_sim/faults": "pending injected faults",
    "POST /_sim/faults": 'inject: {"status": 503, "code": 35008, "retry_after": 2, '
    '"delay": 0, "drop": false, "non_json": false, "method": "POST", "path": "Sms/send", '
    '"times": 1 | "fraction": 0.1, "seed": 7}',
    "DELETE /_sim/faults": "remove every fault",
    "GET /_sim/rules": "outcome rules",
    "POST /_sim/rules/outcome": '{"number": "+919876543210", "outcome": "busy", "kind": '
    '"call"|"sms" (optional), "duration": 30, "detailed_status_code": 23035}',
    "POST /_sim/rules/fraction": '{"outcome": "failed", "fraction": 0.2, "kind": "sms", "seed": 7}',
    "POST /_sim/rules/dnd": '{"number": "+919876543210", "dnd": true}',
    "DELETE /_sim/rules": "forget outcome rules",
    "POST /_sim/numbers": '{"number": "+919876543210", "dnd": true, "type": "Landline", '
    '"operator": "A", "circle": "KA"}: what Numbers/<n> answers',
    "GET /_sim/account": "KYC, credentials, ExoPhones and the customer whitelist",
    "PATCH /_sim/account": '{"kyc": "pending"|"verified", "credentials": "revoked"|"valid"}',
    "POST /_sim/exophones": '{"number": "08047112345", "voice": true, "sms": true}: add or change',
    "DELETE /_sim/exophones": '{"number": "08047112345"}: remove (calls are then held to the '
    "account's ExoPhones)",
    "POST /_sim/whitelist": '{"number": "+919876543210", "status": "Whitelist"|"Blacklist"|'
    '"Neutral", "type": "API", "expiry": 15552000}',
    "POST /_sim/advance": '{"sid": "<sid>"} or {} for all: one step; answers the callbacks',
    "POST /_sim/complete": '{"sid": "<sid>"} or {} for all: to the final state',
    "GET /_sim/config": "rate limit, Retry-After, auto-progress settings",
    "PATCH /_sim/config": '{"rate_limit": 200, "rate_window": 60, "retry_after": true, '
    '"auto_progress": true, "progress_delay": 0.5, "call_duration": 17}',
    "POST /_sim/reset": "back to a fresh account (requests, calls, SMS, rules, faults)",
    "GET /_sim/flows": "registered call flows, and the flow of each ExoPhone",
    "POST /_sim/flows": '{"flow_id": "4242", "applets": [{"type": "greeting", "url": "<url>"}, '
    '{"type": "gather", "max_digits": 1}, {"type": "passthru", "url": "<url>", "success": '
    '"next", "failure": "hangup"}, {"type": "connect", "url": "<url>"}, {"type": "hangup"}], '
    '"exophone": "08047112345" (optional)}',
    "DELETE /_sim/flows": "forget every flow and ExoPhone flow",
    "POST /_sim/flows/exophone": '{"exophone": "08047112345", "flow_id": "4242"}: calls to the '
    "ExoPhone play the flow",
    "GET /_sim/digits": "keys queued, by number (last 10 digits)",
    "POST /_sim/digits": '{"number": "+919876543210", "digits": "1" | ["", "1"]}: pressed at '
    'its next gathers ("" lets one time out)',
    "DELETE /_sim/digits": "forget every queued key",
    "POST /_sim/missed-call": '{"from": "+919876543210", "to": "08047112345"}: a missed call to '
    'an ExoPhone, its flow plays; answers {"sid", "flow_id"}',
    "POST /_sim/incoming-call": '{"from": "+919876543210", "to": "08047112345"}: a call to an '
    'ExoPhone, picked up, its flow plays; answers {"sid", "flow_id"}',
    "GET /_sim/flow-runs": "every call's flow transcript",
    "GET /_sim/calls/<sid>/flow": "one call's flow transcript; ?wait=<seconds> waits (at most "
    "60) for the flow to end",
    **WHATSAPP_ADMIN,
}
#: ``GET /_sim/calls/<sid>/flow``: the one admin path with a parameter.
_CALL_FLOW = re.compile(r"^/_sim/calls/(?P<sid>[^/]+)/flow/?$")
#: The longest ``?wait=`` an admin request may block for.
MAX_ADMIN_WAIT = 60.0


def _json(status: int, payload: Any) -> Answer:
    return Answer(status, to_json(payload), "application/json", {})


def _take(data: dict[str, Any], key: str, types: tuple[type, ...], required: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise AdminError(400, f"{key!r} is required")
        return None
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise AdminError(400, f"{key!r} must be {names}, not {value!r}")
    return value


def _only(data: dict[str, Any], *allowed: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise AdminError(
            400, f"unknown field(s) {', '.join(unknown)}: this endpoint takes {', '.join(allowed)}"
        )


def _config(sim: ExotelSimulator) -> dict[str, Any]:
    return {
        "sid": sim.sid,
        "base_url": sim.base_url,
        "rate_limit": sim.rate_limit,
        "rate_window": sim.rate_window,
        "retry_after": sim.retry_after,
        "auto_progress": sim.auto_progress,
        "progress_delay": sim.progress_delay,
        "call_duration": sim.call_duration,
        "applet_timeout": sim.applet_timeout,
        "gather_wait": sim.gather_wait,
    }


def _patch_config(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(
        data,
        "rate_limit",
        "rate_window",
        "retry_after",
        "auto_progress",
        "progress_delay",
        "call_duration",
        "applet_timeout",
        "gather_wait",
    )
    applet_timeout = _take(data, "applet_timeout", (int, float))
    gather_wait = _take(data, "gather_wait", (int, float))
    if applet_timeout is not None and not applet_timeout > 0:
        raise AdminError(400, "applet_timeout must be > 0 seconds")
    if gather_wait is not None and not gather_wait >= 0:
        raise AdminError(400, "gather_wait must be >= 0 seconds")
    rate_limit = _take(data, "rate_limit", (int,))
    rate_window = _take(data, "rate_window", (int, float))
    delay = _take(data, "progress_delay", (int, float))
    duration = _take(data, "call_duration", (int,))
    if rate_limit is not None and rate_limit < 1:
        raise AdminError(400, "rate_limit must be at least 1")
    if rate_window is not None and rate_window <= 0:
        raise AdminError(400, "rate_window must be > 0 seconds")
    if delay is not None and delay < 0:
        raise AdminError(400, "progress_delay must be >= 0 seconds")
    if duration is not None and duration < 1:
        raise AdminError(400, "call_duration must be at least 1 second")
    retry_after = _take(data, "retry_after", (bool,))
    auto = _take(data, "auto_progress", (bool,))
    if rate_limit is not None:
        sim.rate_limit = rate_limit
    if rate_window is not None:
        sim.rate_window = float(rate_window)
    if retry_after is not None:
        sim.retry_after = retry_after
    if auto is not None:
        sim.auto_progress = auto
    if delay is not None:
        sim.progress_delay = float(delay)
    if duration is not None:
        sim.call_duration = duration
    if applet_timeout is not None:
        sim.applet_timeout = applet_timeout
    if gather_wait is not None:
        sim.gather_wait = gather_wait
    return _config(sim)


def _inject(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    times = _take(data, "times", (int,))
    fraction = _take(data, "fraction", (int, float))
    seed = _take(data, "seed", (int,))
    fields = {k: v for k, v in data.items() if k not in ("times", "fraction", "seed")}
    try:
        fault = Fault.from_dict(fields)
        sim.inject(fault, times, fraction=fraction, seed=seed)
    except (TypeError, ValueError) as err:
        raise AdminError(400, str(err)) from None
    return {"faults": sim.faults}


def _outcome(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "outcome", "kind", "duration", "detailed_status_code")
    kind = _take(data, "kind", (str,))
    if kind not in (None, "call", "sms"):
        raise AdminError(400, f"kind must be 'call' or 'sms', not {kind!r}")
    try:
        sim.set_outcome(
            _take(data, "number", (str,), required=True),
            _take(data, "outcome", (str,), required=True),
            kind=kind,
            duration=_take(data, "duration", (int,)),
            detailed_status_code=_take(data, "detailed_status_code", (int,)),
        )
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return sim.rules


def _fraction(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "outcome", "fraction", "kind", "seed")
    kind = _take(data, "kind", (str,))
    if kind not in (None, "call", "sms"):
        raise AdminError(400, f"kind must be 'call' or 'sms', not {kind!r}")
    try:
        sim.set_outcome_fraction(
            _take(data, "outcome", (str,), required=True),
            float(_take(data, "fraction", (int, float), required=True)),
            kind=kind,
            seed=_take(data, "seed", (int,)),
        )
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return sim.rules


def _dnd(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "dnd")
    number = _take(data, "number", (str,), required=True)
    dnd = _take(data, "dnd", (bool,))
    sim.mark_dnd(number, True if dnd is None else dnd)
    return {"number": number, "dnd": True if dnd is None else dnd}


def _numbers(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "dnd", "type", "operator", "circle")
    number = _take(data, "number", (str,), required=True)
    sim.set_number_info(
        number,
        dnd=_take(data, "dnd", (bool,)),
        number_type=_take(data, "type", (str,)),
        operator=_take(data, "operator", (str,)),
        circle=_take(data, "circle", (str,)),
    )
    return {"number": number}


def _patch_account(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "kyc", "credentials")
    kyc = _take(data, "kyc", (str,))
    credentials = _take(data, "credentials", (str,))
    if kyc not in (None, "pending", "verified"):
        raise AdminError(400, f"kyc must be 'pending' or 'verified', not {kyc!r}")
    if credentials not in (None, "revoked", "valid"):
        raise AdminError(400, f"credentials must be 'revoked' or 'valid', not {credentials!r}")
    if kyc is not None:
        sim.set_kyc_pending(kyc == "pending")
    if credentials is not None:
        sim.revoke_credentials(credentials == "revoked")
    return sim.account


def _add_exophone(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "voice", "sms")
    voice, sms = _take(data, "voice", (bool,)), _take(data, "sms", (bool,))
    try:
        sim.add_exophone(
            _take(data, "number", (str,), required=True),
            voice=True if voice is None else voice,
            sms=True if sms is None else sms,
        )
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return {"exophones": sim.exophones}


def _remove_exophone(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number")
    number = _take(data, "number", (str,), required=True)
    if not sim.remove_exophone(number):
        raise AdminError(404, f"{number} is not an ExoPhone of the account")
    return {"exophones": sim.exophones}


def _whitelist(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "status", "type", "expiry")
    kind = _take(data, "type", (str,))
    try:
        sim.set_whitelist(
            _take(data, "number", (str,), required=True),
            _take(data, "status", (str,), required=True),
            kind="API" if kind is None else kind,
            expiry=_take(data, "expiry", (int,)),
        )
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return sim.account


def _step(sim: ExotelSimulator, data: dict[str, Any], whole: bool) -> dict[str, Any]:
    _only(data, "sid")
    sid = _take(data, "sid", (str,))
    try:
        attempts = sim.complete(sid) if whole else sim.advance(sid)
    except KeyError:
        raise AdminError(404, f"no call or SMS with Sid {sid!r}") from None
    return {"callbacks": [attempt.to_dict() for attempt in attempts]}


def _requests(sim: ExotelSimulator, query_text: str) -> dict[str, Any]:
    query = {key: values[-1] for key, values in parse_urlencoded(query_text).items()}
    unknown = sorted(set(query) - {"to", "method", "path"})
    if unknown:
        raise AdminError(400, f"unknown filter(s) {', '.join(unknown)}: use to, method, path")
    method, path = query.get("method"), query.get("path")
    if "to" in query:
        found = sim.requests_to(query["to"], method=method, path=path)
    else:
        try:
            pattern = re.compile(path) if path else None
        except re.error as err:
            raise AdminError(400, f"path {path!r} is not a regex: {err}") from None
        found = [
            r
            for r in sim.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]
    return {"count": len(found), "requests": [r.to_dict() for r in found]}


def _then(action: Callable[[], None], answer: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        action()
        return answer()

    return run


def serve_admin(
    sim: ExotelSimulator, method: str, path: str, query_text: str, body: bytes
) -> Answer:
    """Answer one admin request (``path`` starts with ``/_sim``)."""
    route = path[len("/_sim") :].rstrip("/") or ""
    key = f"{method} /_sim{route}"
    handlers: dict[str, Callable[[], Any]] = {
        "GET /_sim": lambda: {"sid": sim.sid, "base_url": sim.base_url, "endpoints": ENDPOINTS},
        "GET /_sim/requests": lambda: _requests(sim, query_text),
        "DELETE /_sim/requests": _then(sim.clear, lambda: {"cleared": True}),
        "GET /_sim/callbacks": lambda: {"callbacks": [c.to_dict() for c in sim.callbacks]},
        "GET /_sim/calls": lambda: {"calls": sim.calls},
        "GET /_sim/messages": lambda: {"messages": sim.messages},
        "GET /_sim/faults": lambda: {"faults": sim.faults},
        "POST /_sim/faults": lambda: _inject(sim, json_object(body)),
        "DELETE /_sim/faults": _then(sim.clear_faults, lambda: {"faults": []}),
        "GET /_sim/rules": lambda: sim.rules,
        "POST /_sim/rules/outcome": lambda: _outcome(sim, json_object(body)),
        "POST /_sim/rules/fraction": lambda: _fraction(sim, json_object(body)),
        "POST /_sim/rules/dnd": lambda: _dnd(sim, json_object(body)),
        "DELETE /_sim/rules": _then(sim.clear_rules, lambda: sim.rules),
        "POST /_sim/numbers": lambda: _numbers(sim, json_object(body)),
        "GET /_sim/account": lambda: sim.account,
        "PATCH /_sim/account": lambda: _patch_account(sim, json_object(body)),
        "POST /_sim/exophones": lambda: _add_exophone(sim, json_object(body)),
        "DELETE /_sim/exophones": lambda: _remove_exophone(sim, json_object(body)),
        "POST /_sim/whitelist": lambda: _whitelist(sim, json_object(body)),
        "POST /_sim/advance": lambda: _step(sim, json_object(body), whole=False),
        "POST /_sim/complete": lambda: _step(sim, json_object(body), whole=True),
        "GET /_sim/config": lambda: _config(sim),
        "PATCH /_sim/config": lambda: _patch_config(sim, json_object(body)),
        "POST /_sim/reset": _then(sim.reset, lambda: {"reset": True}),
    }
    handlers.update(_flow_handlers(sim, body))
    handlers.update(whatsapp_admin(sim.whatsapp, body))
    call_flow = _CALL_FLOW.match(path)
    if call_flow is not None:
        if method != "GET":
            return _json(405, {"error": f"{method} is not allowed on {path}: use GET"})
        handlers[key] = lambda: _call_flow(sim, call_flow["sid"], query_text)
    handler = handlers.get(key)
    if handler is None:
        known = [k for k in ENDPOINTS if k.split(" ", 1)[1] == f"/_sim{route}"]
        if known:
            allowed = ", ".join(k.split(" ", 1)[0] for k in known)
            return _json(405, {"error": f"{method} is not allowed on {path}: use {allowed}"})
        return _json(404, {"error": f"no admin endpoint {path}: GET /_sim lists them"})
    try:
        return _json(200, handler())
    except AdminError as err:
        return _json(err.status, {"error": str(err)})


# --- call flows ----------------------------------------------------------------------------


def _flow_handlers(sim: ExotelSimulator, body: bytes) -> dict[str, Callable[[], Any]]:
    return {
        "GET /_sim/flows": lambda: sim.flows,
        "POST /_sim/flows": lambda: _add_flow(sim, json_object(body)),
        "DELETE /_sim/flows": _then(sim.clear_flows, lambda: sim.flows),
        "POST /_sim/flows/exophone": lambda: _attach_flow(sim, json_object(body)),
        "GET /_sim/digits": lambda: {"digits": sim.queued_digits},
        "POST /_sim/digits": lambda: _queue_digits(sim, json_object(body)),
        "DELETE /_sim/digits": _then(sim.clear_digits, lambda: {"digits": {}}),
        "POST /_sim/missed-call": lambda: _incoming(sim, json_object(body), missed=True),
        "POST /_sim/incoming-call": lambda: _incoming(sim, json_object(body), missed=False),
        "GET /_sim/flow-runs": lambda: {"runs": [run.to_dict() for run in sim.flow_runs]},
    }


def _add_flow(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "flow_id", "applets", "exophone")
    flow_id = _take(data, "flow_id", (str, int), required=True)
    applets = _take(data, "applets", (list,), required=True)
    try:
        flow = sim.add_flow(str(flow_id), applets, exophone=_take(data, "exophone", (str,)))
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return {"flow": flow.to_dict()}


def _attach_flow(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "exophone", "flow_id")
    try:
        sim.attach_flow(
            _take(data, "exophone", (str,), required=True),
            str(_take(data, "flow_id", (str, int), required=True)),
        )
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return sim.flows


def _queue_digits(sim: ExotelSimulator, data: dict[str, Any]) -> dict[str, Any]:
    _only(data, "number", "digits")
    number = _take(data, "number", (str,), required=True)
    digits = data.get("digits")
    entries = [digits] if isinstance(digits, str) else digits
    if not isinstance(entries, list) or not entries:
        raise AdminError(400, '\'digits\' is required: "1", or a list such as ["", "1"]')
    try:
        sim.queue_digits(number, *entries)
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    return {"digits": sim.queued_digits}


def _incoming(sim: ExotelSimulator, data: dict[str, Any], *, missed: bool) -> dict[str, Any]:
    _only(data, "from", "to")
    caller = _take(data, "from", (str,), required=True)
    exophone = _take(data, "to", (str,), required=True)
    try:
        place = sim.missed_call if missed else sim.incoming_call
        sid = place(caller, exophone)
    except ValueError as err:
        raise AdminError(400, str(err)) from None
    run = sim.flow_run(sid)
    return {"sid": sid, "flow_id": None if run is None else run.flow_id}


def _call_flow(sim: ExotelSimulator, sid: str, query_text: str) -> dict[str, Any]:
    query = {key: values[-1] for key, values in parse_urlencoded(query_text).items()}
    unknown = sorted(set(query) - {"wait"})
    if unknown:
        raise AdminError(400, f"unknown parameter(s) {', '.join(unknown)}: use wait=<seconds>")
    wait = 0.0
    if "wait" in query:
        try:
            wait = float(query["wait"])
        except ValueError:
            raise AdminError(400, f"wait={query['wait']!r} must be a number of seconds") from None
        if not 0 <= wait <= MAX_ADMIN_WAIT:
            raise AdminError(400, f"wait must be 0 to {MAX_ADMIN_WAIT:g} seconds")
    run = sim.flow_run(sid)
    if run is None:
        raise AdminError(404, f"call {sid} plays no flow (unknown Sid, or no registered flow)")
    if wait > 0 and not run.finished:
        try:
            run = sim.wait_for_flow(sid, wait)
        except TimeoutError:
            run = sim.flow_run(sid) or run  # answer how far it got; "state" says it is not over
    return run.to_dict()
