"""An MSG91 client for one thing: send one SMS to one number, through the documented
``POST /api/v2/sendsms`` (JSON, the account's ``authkey`` in a header), the body checked against
its DLT template beforehand by the channel, the DLT template id and entity id carried with it.
Built on :mod:`notifykit.http`, which decides what a request without an answer means.

Every answer is one of: :class:`Accepted` (a request id), or a :class:`Msg91Error` whose class
says what to do about it:

==========================  ================================================  ===============
Class                        When                                             Sent?
==========================  ================================================  ===============
:class:`AuthError`           HTTP 401/403; codes 106, 207, 208, 418 (the       no
                             authkey, the IP whitelist); 302, 303, 505 (the
                             account expired, banned, a demo)
:class:`BalanceError`        code 301                                          no
:class:`DltTemplateError`    an error naming the (DLT) template                 no
:class:`RecipientError`      code 202 (invalid mobile number)                   no
:class:`RequestError`        any other refusal (a 4xx, an error code)           no
:class:`ThrottledError`      HTTP 408/429; code 306 (route closed now)          no, retry later
:class:`NotConnected`        refused, DNS, connect timeout, TLS refused         no, retry later
:class:`MaybeSent`           a timeout or a dropped connection after the        perhaps: never
                             request, a 5xx, an answer it cannot read            sent again
==========================  ================================================  ===============

The wire format and the codes come from MSG91's public API documentation and are listed, with
what is confirmed and what is not, in ``docs/plugins/msg91.md``. No text this module produces
carries the authkey (:meth:`Msg91Client.scrub`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notifykit.channels.base import ProviderError
from notifykit.http import HttpPool, NoAnswer, retry_after

__all__ = [
    "SEND_PATH",
    "Accepted",
    "AuthError",
    "BalanceError",
    "DltTemplateError",
    "MaybeSent",
    "Msg91Client",
    "Msg91Error",
    "NotConnected",
    "RecipientError",
    "RequestError",
    "ThrottledError",
    "wire_number",
]

#: the send endpoint, under the base URL
SEND_PATH = "/api/v2/sendsms"
#: the most of an answer's body read
MAX_ANSWER = 64 * 1024
_SHOWN = 200
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class Msg91Error(ProviderError):
    """MSG91 did not take the SMS (or may not have): ``code`` is MSG91's error code when it
    gave one, ``http_status`` the HTTP status when there was an answer; ``retry``, ``cause``,
    ``account`` and the rest as :class:`~notifykit.channels.base.ProviderError` says.

    ``cause`` ``account`` (:attr:`account`): MSG91 refused the account, not the recipient nor
    the message: the authkey, the IP whitelist, the account expired, banned or a demo, its
    balance. A refused template (``template``) or sender (203: a DLT header, which a fallback's
    DLT route would refuse alike), an invalid number (202) or any other refusal is not the
    account's."""


class AuthError(Msg91Error):
    """The authkey or the account was refused (HTTP 401/403, codes 106, 207, 208, 418, 302, 303,
    505): nothing was sent, and nothing will be until the account is fixed."""

    cause = "account"


class BalanceError(Msg91Error):
    """The account's SMS balance is used up (code 301): nothing was sent."""

    cause = "account"


class DltTemplateError(Msg91Error):
    """MSG91 refused the DLT template (its id, or the body against it): nothing was sent."""

    cause = "template"


class RecipientError(Msg91Error):
    """The number was refused (code 202): nothing was sent, and sending again will not help."""

    cause = "recipient"


class RequestError(Msg91Error):
    """Any other refusal: nothing was sent."""


class ThrottledError(Msg91Error):
    """Not processed now (HTTP 408/429, code 306): try again later."""

    retry = True
    cause = "throttled"


class NotConnected(Msg91Error):
    """MSG91 was never reached (refused, DNS, a connect timeout, a certificate refused):
    certainly not sent."""

    retry = True
    cause = "connection"


class MaybeSent(Msg91Error):
    """The request went out and no clear answer came back (a timeout, a dropped connection, a
    5xx, an answer that is not MSG91's): MSG91 may have taken it. Never send it again."""

    cause = "unknown"


#: MSG91's error codes -> (the class, what to do about it). From MSG91's API documentation's
#: error-code table (101-107, 2xx, 3xx, 418, 505...); see docs/plugins/msg91.md.
_AUTH_FIX = "check the account's authkey against MSG91's panel (API > Authkey)"
_CODES: dict[str, tuple[type[Msg91Error], str]] = {
    "106": (AuthError, _AUTH_FIX),
    "207": (AuthError, _AUTH_FIX),
    "208": (AuthError, "add this host's address to the authkey's IP whitelist in MSG91's panel"),
    "418": (AuthError, "add this host's address to the authkey's IP whitelist in MSG91's panel"),
    "302": (AuthError, "the MSG91 account has expired: contact MSG91"),
    "303": (AuthError, "the MSG91 account is banned: contact MSG91"),
    "505": (AuthError, "the MSG91 account is a demo account: ask MSG91 to make it live"),
    "301": (BalanceError, "top up the SMS balance in MSG91's panel"),
    "202": (RecipientError, "check the recipient's phone number"),
    "203": (RequestError, "check the account's sender: the 6-character DLT header"),
    "306": (ThrottledError, "MSG91's route is closed at this hour: it is tried again later"),
}
_TEMPLATE = re.compile(r"(?i)template|dlt|\bpe[ _]?id\b|entity")


@dataclass(frozen=True)
class Accepted:
    """MSG91 took the SMS: ``request_id`` identifies it (its delivery reports name it)."""

    request_id: str
    http_status: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def wire_number(phone: str) -> str:
    """An E.164 number as MSG91 takes it: the country code and number, digits only
    (``+919876543210`` -> ``919876543210``)."""
    return phone.removeprefix("+")


def _one_line(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class Msg91Client:
    """One MSG91 account's client: a pooled connection to ``base_url``, shared by every channel
    on the account (thread-safe). ``authkey`` is never shown: not in a ``repr``, an error or a
    log line."""

    def __init__(
        self,
        authkey: str,
        *,
        base_url: str = "https://api.msg91.com",
        timeout: float = 10.0,
        name: str = "MSG91",
    ) -> None:
        self._authkey = authkey
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.name = name
        self._pool: HttpPool | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Msg91Client({self.base_url!r})"

    def scrub(self, text: str) -> str:
        """``text`` without the authkey."""
        return text.replace(self._authkey, "***") if self._authkey else text

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _connections(self) -> HttpPool:
        with self._lock:
            if self._pool is None:
                self._pool = HttpPool(
                    self.base_url,
                    headers={},
                    timeout=self.timeout,
                    scrub=self.scrub,
                    name=self.name,
                )
            return self._pool

    @staticmethod
    def request_body(
        *,
        to: str,
        message: str,
        sender: str,
        route: str,
        dlt_template_id: str,
        dlt_entity_id: str,
        unicode: bool,
    ) -> dict[str, Any]:
        """The JSON of one send: the wire names, in one place."""
        return {
            "sender": sender,
            "route": route,
            "unicode": 1 if unicode else 0,
            "DLT_TE_ID": dlt_template_id,
            "PE_ID": dlt_entity_id,
            "sms": [{"message": message, "to": [wire_number(to)]}],
        }

    def send_sms(
        self,
        *,
        to: str,
        message: str,
        sender: str,
        route: str,
        dlt_template_id: str,
        dlt_entity_id: str,
        unicode: bool = False,
    ) -> Accepted:
        """Send ``message`` to ``to`` (E.164) in one request; :class:`Accepted`, or raise a
        :class:`Msg91Error` (see the module docstring). Never retries by itself."""
        body = self.request_body(
            to=to,
            message=message,
            sender=sender,
            route=route,
            dlt_template_id=dlt_template_id,
            dlt_entity_id=dlt_entity_id,
            unicode=unicode,
        )
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "authkey": self._authkey,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _user_agent(),
        }
        try:
            pool = self._connections()
        except ValueError as err:  # a SOCKS proxy without PySocks
            raise NotConnected(f"{self.name} cannot be reached: {self.scrub(str(err))}") from None
        try:
            status, answer_headers, text = pool.exchange(
                "POST", self.base_url + SEND_PATH, body=data, headers=headers, max_body=MAX_ANSWER
            )
        except NoAnswer as failure:
            raise self._no_answer(failure) from None
        return self.read_answer(status, answer_headers, text)

    def _no_answer(self, failure: NoAnswer) -> Msg91Error:
        said = failure.explain(self.name, self.timeout, self.scrub)
        return MaybeSent(said) if failure.reached else NotConnected(said)

    def read_answer(self, status: int, headers: Mapping[str, str], text: str) -> Accepted:
        """An HTTP answer as :class:`Accepted`, or raise the :class:`Msg91Error` it means."""
        answer = _json_object(text)
        kind = str(answer.get("type") or "").lower() if answer is not None else ""
        said = self.scrub(_one_line(str(answer.get("message") or ""))) if answer else ""
        code = answer.get("code") if answer is not None else None
        code_text = str(code).strip() if isinstance(code, (str, int)) else None
        if 200 <= status < 300 and kind == "success":
            request_id = str(answer.get("message") or "") if answer else ""
            if _REQUEST_ID.fullmatch(request_id):
                return Accepted(request_id, status, dict(answer or {}))
            raise MaybeSent(
                f"{self.name} answered HTTP {status} 'success' without a request id it could be "
                "traced by",
                http_status=status,
            )
        if kind == "error" or code_text:
            raise self._refusal(status, code_text, said, headers)
        shown = self.scrub(_one_line(text))
        detail = f": {shown}" if shown else ""
        if status in (401, 403):
            raise AuthError(
                f"{self.name} refused the authkey (HTTP {status}{detail}): {_AUTH_FIX}",
                http_status=status,
            )
        if status in (408, 429):
            raise ThrottledError(
                f"{self.name} answered HTTP {status}{detail}: not processed, tried again later",
                http_status=status,
                retry_after=retry_after(headers.get("Retry-After")),
            )
        if 400 <= status < 500:
            raise RequestError(f"{self.name} refused it: HTTP {status}{detail}", http_status=status)
        raise MaybeSent(f"{self.name} answered HTTP {status}{detail}", http_status=status)

    def _refusal(
        self, status: int, code: str | None, said: str, headers: Mapping[str, str]
    ) -> Msg91Error:
        """MSG91's ``{"type": "error", "message": ..., "code": ...}``, as its class."""
        what = f"code {code}: {said}" if code and said else (f"code {code}" if code else said)
        what = what or "no reason given"
        if status >= 500:
            return MaybeSent(f"{self.name} answered HTTP {status} ({what})", http_status=status)
        found = _CODES.get(code or "")
        if status in (401, 403) and (found is None or found[0] is not AuthError):
            found = (AuthError, _AUTH_FIX)
        if found is None and status in (408, 429):
            found = (ThrottledError, "tried again later")
        if found is None and _TEMPLATE.search(said):
            found = (
                DltTemplateError,
                "check the template's dlt_template_id and the account's dlt_entity_id and "
                "sender against the DLT platform, and that the template is added in MSG91's "
                "panel",
            )
        cls, fix = found or (RequestError, "see MSG91's error codes")
        return cls(
            f"{self.name} refused it ({what}): {fix}",
            code=code,
            http_status=status,
            retry_after=retry_after(headers.get("Retry-After")),
        )


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


def _user_agent() -> str:
    from notifykit import __version__

    return f"notifykit-msg91/{__version__}"
