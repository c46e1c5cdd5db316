"""A fake of MSG91's send API on 127.0.0.1, for tests and ``--sandbox``: ``POST
/api/v2/sendsms`` with the ``authkey`` header and MSG91's JSON body, answered as MSG91 documents
(``{"message": "<request id>", "type": "success"}``, or ``{"type": "error", "message": ...,
"code": ...}``), every request recorded.

It checks what MSG91 would: the authkey (401, code 207), the sender, the DLT template id and
entity id present, and, for the templates it is told about (``templates={id: registered text}``),
the body against the registered text with :func:`notifykit.india.check_dlt` (an error naming
the template, as MSG91's DLT verification would).

Faults (:class:`Fault`), each for the next ``times`` requests: ``unauthorized`` (HTTP 401, code
207), ``ip`` (code 418), ``balance`` (code 301), ``expired`` (code 302, the account expired),
``banned`` (code 303, the account banned), ``template`` (the DLT template refused),
``number`` (code 202), ``throttled`` (HTTP 429 with ``Retry-After``), ``server`` (HTTP 500),
``drop`` (the connection closed after the request was read, no answer), ``slow`` (the answer
held back ``delay`` seconds, past the client's timeout). A refused connection needs no server:
:func:`closed_url` is an address nothing listens on.

::

    with FakeMsg91() as fake:
        fake.inject(Fault("balance"))
        ...  # an msg91 account with authkey=fake.authkey, base_url=fake.base_url
        [request] = fake.wait_for(1)
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from notifykit.fakeserver import FakeRequest, FakeServer, closed_url

__all__ = ["FakeMsg91", "Fault", "Request", "closed_url"]

log = logging.getLogger("notifykit_msg91.fake")

SEND_PATH = "/api/v2/sendsms"

FaultKind = Literal[
    "unauthorized",
    "ip",
    "balance",
    "expired",
    "banned",
    "template",
    "number",
    "throttled",
    "server",
    "drop",
    "slow",
]


@dataclass(frozen=True)
class Request:
    """One request the fake received."""

    path: str
    headers: Mapping[str, str] = field(repr=False)  # names lowercased
    body: bytes = field(repr=False)
    received: float
    #: the request id the fake answered with (``None``: it refused the request)
    request_id: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def numbers(self) -> list[str]:
        return [n for sms in self.json().get("sms", []) for n in sms.get("to", [])]

    @property
    def message(self) -> str:
        return str(self.json()["sms"][0]["message"])


@dataclass(frozen=True)
class Fault:
    """What the fake does with the next ``times`` requests instead of taking them."""

    kind: FaultKind
    times: int = 1
    #: seconds a ``slow`` answer is held back
    delay: float = 2.0
    #: the error's ``message`` instead of the fault's own (what MSG91 might echo back)
    message: str | None = None


def _error(message: str, code: str) -> dict[str, str]:
    return {"type": "error", "message": message, "code": code}


#: each fault's answer: (HTTP status, body, headers)
_ANSWERS: dict[str, tuple[int, Mapping[str, Any], Mapping[str, str]]] = {
    "unauthorized": (401, _error("Invalid authentication key", "207"), {}),
    "ip": (200, _error("IP is not whitelisted", "418"), {}),
    "balance": (200, _error("Insufficient balance to send SMS", "301"), {}),
    # MSG91's error-code table's words; the HTTP status of an error is not documented (200
    # with "type": "error", as for the other codes, is what the fake answers)
    "expired": (
        200,
        _error("Expired user account. You need to contact your account manager.", "302"),
        {},
    ),
    "banned": (200, _error("Banned user account", "303"), {}),
    "template": (200, _error("Invalid DLT template id: template not approved", "400"), {}),
    "number": (200, _error("Invalid mobile number", "202"), {}),
    "throttled": (429, _error("Too many requests", "429"), {"Retry-After": "7"}),
    "server": (500, {"type": "error", "message": "Internal error"}, {}),
}


class FakeMsg91(FakeServer[Request, Fault]):
    """A fake MSG91 on 127.0.0.1 (see the module docstring). ``authkey``: the one it accepts
    (a random one by default); ``templates``: DLT template ids it knows, with their registered
    text (others are accepted unchecked); ``log_requests``: one INFO line per request on
    ``notifykit_msg91.fake`` (the sandbox's)."""

    thread_name = "notifykit-msg91-fake"

    def __init__(
        self,
        *,
        authkey: str | None = None,
        templates: Mapping[str, str] | None = None,
        log_requests: bool = False,
    ) -> None:
        self.authkey = authkey or secrets.token_hex(12)
        self.templates = dict(templates or {})
        self.log_requests = log_requests
        super().__init__()

    @property
    def requests(self) -> list[Request]:
        """Every request received, in order."""
        return self._recorded

    def _judge(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, Any], Mapping[str, str]]:
        """What MSG91 would answer a request the fake was not told to fail."""
        if headers.get("authkey") != self.authkey:
            return 401, _error("Invalid authentication key", "207"), {}
        try:
            payload = json.loads(body)
            sms = payload["sms"][0]
            message, numbers = str(sms["message"]), list(sms["to"])
        except (ValueError, KeyError, IndexError, TypeError):
            return 400, _error("Invalid request body", "400"), {}
        if not numbers or not all(str(n).isdigit() and len(str(n)) >= 10 for n in numbers):
            return 200, _error("Invalid mobile number", "202"), {}
        if not payload.get("sender"):
            return 200, _error("Missing sender ID", "103"), {}
        template_id = str(payload.get("DLT_TE_ID") or "")
        if not template_id or not payload.get("PE_ID"):
            return 200, _error("DLT_TE_ID and PE_ID are required", "400"), {}
        registered = self.templates.get(template_id)
        if registered is not None:
            from notifykit.india import check_dlt

            if not check_dlt(message, registered).ok:
                return 200, _error("Message does not match the DLT template", "400"), {}
        return 200, {}, {}

    def _serve(self, request: FakeRequest) -> None:
        body = request.read_body()
        headers = request.lowered_headers()
        fault = self._next_fault()
        if request.path.rstrip("/") != SEND_PATH:
            self._record(Request(request.path, headers, body, time.time()))
            request.answer(404, _error("Not found", "404"))
            return
        if fault is None:
            status, answer, extra = self._judge(headers, body)
        elif fault.kind in ("drop", "slow"):
            status, answer, extra = 200, {}, {}
        else:
            status, answer, extra = _ANSWERS[fault.kind]
            if fault.message is not None:
                answer = {**answer, "message": fault.message}
        request_id = secrets.token_hex(12) if status == 200 and not answer else None
        if request_id is not None:
            answer = {"message": request_id, "type": "success"}
        self._record(Request(request.path, headers, body, time.time(), request_id))
        if self.log_requests:
            log.info(
                "MSG91 sandbox received POST %s (%d bytes): %s",
                request.path,
                len(body),
                f"request id {request_id}" if request_id else f"refused, HTTP {status}",
            )
        if fault is not None and (
            fault.kind == "drop" or (fault.kind == "slow" and self._hold(fault.delay))
        ):
            request.hang_up()
        else:
            request.answer(status, answer, extra)
