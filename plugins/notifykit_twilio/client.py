"""A client for two things: send one SMS, place one call, through the official ``twilio``
package (``Client.messages.create``, ``Client.calls.create``). The package's own requests
session is replaced by its supported extension point, a custom ``twilio.http.HttpClient``
(:class:`_Transport`), that sends on :mod:`notifykit.http`: one pooled connection per account,
no retries, no redirects, and the one judgement of a request without an answer (was it
certainly not sent?). ``base_url`` other than Twilio's rewrites the API's origin (a fake).

Every answer is one of: :class:`Accepted` (the Message or Call SID), or a :class:`TwilioError`
whose class says what to do about it:

==========================  ================================================  ===============
Class                        When                                             Sent?
==========================  ================================================  ===============
:class:`AuthError`           HTTP 401/403; 20003 (authenticate), 20404 (no     no
                             such account), 20005/10001 (account not active)
:class:`AccountError`        the account cannot send this: 21608/21219 (a      no
                             trial account and an unverified number), 10002
                             (not on a trial account), 21606,
                             21212, 21659, 21660 (``from``), 21408, 21215
                             (geographic permission), insufficient funds
:class:`RecipientError`      21211, 21614, 21217, 21401, 21610 (the number)    no
:class:`RequestError`        any other 4xx                                     no
:class:`ThrottledError`      HTTP 429, 20429                                   no, retry later
:class:`NotConnected`        refused, DNS, connect timeout, TLS refused        no, retry later
:class:`MaybeSent`           a timeout or a dropped connection after the        perhaps: never
                             request, a 5xx, an answer it cannot read           sent again
==========================  ================================================  ===============

No text this module produces carries the auth token (:meth:`TwilioClient.scrub`).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

from notifykit.channels.base import ProviderError
from notifykit.http import HttpPool, NoAnswer, retry_after

__all__ = [
    "Accepted",
    "AccountError",
    "AuthError",
    "MaybeSent",
    "NotConnected",
    "RecipientError",
    "RequestError",
    "ThrottledError",
    "TwilioClient",
    "TwilioError",
    "classify",
]

#: the most of an answer's body read
MAX_ANSWER = 64 * 1024
_SHOWN = 200
_SID = re.compile(r"(SM|MM|CA)[0-9a-fA-F]{32}")
#: Twilio's own origin: requests go there (or to the region's host) unless base_url says else
TWILIO_ORIGIN = "https://api.twilio.com"


class TwilioError(ProviderError):
    """Twilio did not take it (or may not have): ``code`` is Twilio's error code when it gave
    one, ``http_status`` the HTTP status when there was an answer; ``retry``, ``cause``,
    ``account`` and the rest as :class:`~notifykit.channels.base.ProviderError` says.

    ``cause`` ``account`` (:attr:`account`): Twilio refused the account, not the recipient nor
    the request: the credentials, an account not active (suspended, out of funds), a trial
    account's limits (an unverified number, a feature), a ``from`` that is not the account's,
    the account's geographic permissions. A trial account's unverified number (21608/21219)
    counts as the account's: the number is fine, the account may not reach it, and another
    provider's account may."""


class AuthError(TwilioError):
    """The account SID or auth token was refused, or the account is not active."""

    cause = "account"


class AccountError(TwilioError):
    """The account cannot send this (a trial account, no funds, ``from``, a permission)."""

    cause = "account"


class RecipientError(TwilioError):
    """The number was refused: sending again will not help."""

    cause = "recipient"


class RequestError(TwilioError):
    """Any other refusal: nothing was sent."""


class ThrottledError(TwilioError):
    """Not processed now (HTTP 429): try again later."""

    retry = True
    cause = "throttled"


class NotConnected(TwilioError):
    """Twilio was never reached: certainly not sent."""

    retry = True
    cause = "connection"


class MaybeSent(TwilioError):
    """The request went out and no clear answer came back: Twilio may have taken it. Never send
    it again."""

    cause = "unknown"


_AUTH_FIX = "check the account's account_sid and auth_token against Twilio's console"
_CODES: dict[str, tuple[type[TwilioError], str]] = {
    "20003": (AuthError, _AUTH_FIX),
    "20404": (AuthError, "check the account's account_sid: Twilio knows no such account"),
    "20005": (AuthError, "the Twilio account is not active: check its balance and standing"),
    "10001": (AuthError, "the Twilio account is not active: check its balance and standing"),
    "10002": (AccountError, "a trial account cannot do this: upgrade the account"),
    "21608": (
        AccountError,
        "a trial account sends only to verified numbers: verify the number in Twilio's console "
        "or upgrade the account",
    ),
    "21219": (
        AccountError,
        "a trial account calls only verified numbers: verify the number in Twilio's console "
        "or upgrade the account",
    ),
    "21606": (AccountError, "check `from`: it is not a number of the account that can send SMS"),
    "21212": (AccountError, "check `from`: Twilio calls it invalid"),
    "21659": (AccountError, "check `from`: it is not a Twilio number of the account"),
    "21660": (AccountError, "check `from`: it does not belong to the account"),
    "21210": (AccountError, "check `from`: it is not a verified caller id of the account"),
    "21408": (AccountError, "allow the destination country in the account's geo permissions"),
    "21215": (AccountError, "allow the destination country in the account's geo permissions"),
    "21211": (RecipientError, "check the recipient's phone number"),
    "21614": (RecipientError, "check the recipient's phone number: it is not a mobile number"),
    "21217": (RecipientError, "check the recipient's phone number"),
    "21401": (RecipientError, "check the recipient's phone number"),
    "21610": (RecipientError, "the recipient has replied STOP to the sender: ask them to START"),
    "20429": (ThrottledError, "tried again later"),
}
_FUNDS = re.compile(r"(?i)insufficient funds|balance|out of funds")


@dataclass(frozen=True)
class Accepted:
    """Twilio took it: ``sid`` (the Message or Call SID) identifies it, ``status`` is what
    Twilio said of it (``queued``, ``accepted``...)."""

    sid: str
    status: str | None


def _one_line(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def classify(
    status: int, code: str | None, said: str, *, name: str, retry: str | None = None
) -> TwilioError:
    """Twilio's refusal (HTTP ``status``, error ``code``, its message ``said``) as its class."""
    what = f"error {code}: {said}" if code and said else (f"error {code}" if code else said)
    what = what or "no reason given"
    if status >= 500:
        return MaybeSent(f"{name} answered HTTP {status} ({what})", code=code, http_status=status)
    found = _CODES.get(code or "")
    if found is None and _FUNDS.search(said):
        found = (AccountError, "add funds to the Twilio account")
    if found is None and status in (401, 403):
        found = (AuthError, _AUTH_FIX)
    if found is None and status == 429:
        found = (ThrottledError, "tried again later")
    if found is None and status == 404:
        found = (AuthError, "check the account's account_sid: Twilio knows no such account")
    cls, fix = found or (RequestError, "see Twilio's error code reference")
    return cls(
        f"{name} refused it (HTTP {status}, {what}): {fix}",
        code=code,
        http_status=status,
        retry_after=retry_after(retry),
    )


class _Transport(HttpClient):  # type: ignore[misc]
    """The ``twilio`` package's HTTP client, on :mod:`notifykit.http` (see the module
    docstring): the Twilio SDK builds each request, this sends it once."""

    def __init__(self, owner: TwilioClient) -> None:
        super().__init__(logging.getLogger("notifykit.twilio.http"), False, owner.timeout)
        self._owner = owner
        self.last_headers: Mapping[str, str] = {}

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        owner = self._owner
        url = owner.rewrite(uri)
        if params:
            url += "?" + urlencode(_pairs(params))
        body = urlencode(_pairs(data)).encode("utf-8") if data else None
        sent = dict(headers or {})
        if auth is not None:
            pair = f"{auth[0]}:{auth[1]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        status, answer_headers, text = owner.pool(url).exchange(
            method.upper(), url, body=body, headers=sent, max_body=MAX_ANSWER
        )
        self.last_headers = answer_headers
        return TwilioResponse(status, text, answer_headers)


def _pairs(values: Mapping[str, object]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        items: Sequence[Any] = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(name, str(item)) for item in items]
    return pairs


class TwilioClient:
    """One Twilio account's client, shared by every channel on the account (thread-safe).
    ``auth_token`` is never shown: not in a ``repr``, an error or a log line."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = TWILIO_ORIGIN,
        region: str | None = None,
        edge: str | None = None,
        timeout: float = 10.0,
        name: str = "Twilio",
    ) -> None:
        from twilio.rest import Client

        self.account_sid = account_sid
        self._auth_token = auth_token
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.name = name
        self._pools: dict[str, HttpPool] = {}
        self._lock = threading.Lock()
        self._transport = _Transport(self)
        self._sdk = Client(
            account_sid, auth_token, region=region, edge=edge, http_client=self._transport
        )

    def __repr__(self) -> str:
        return f"TwilioClient({self.account_sid!r}, {self.base_url!r})"

    def scrub(self, text: str) -> str:
        """``text`` without the auth token (nor its Basic-auth form)."""
        if not self._auth_token:
            return text
        basic = base64.b64encode(f"{self.account_sid}:{self._auth_token}".encode()).decode()
        return text.replace(self._auth_token, "***").replace(basic, "***")

    def rewrite(self, uri: str) -> str:
        """The URL the SDK built, on ``base_url`` when that is not Twilio's own."""
        if self.base_url == TWILIO_ORIGIN:
            return uri
        parts = urlsplit(uri)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + rest

    def pool(self, url: str) -> HttpPool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            found = self._pools.get(origin)
            if found is None:
                found = self._pools[origin] = HttpPool(
                    origin, headers={}, timeout=self.timeout, scrub=self.scrub, name=self.name
                )
            return found

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    # -- the two requests -------------------------------------------------------------------------

    def send_sms(
        self,
        *,
        to: str,
        body: str,
        from_number: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
    ) -> Accepted:
        """Send ``body`` to ``to`` (E.164) in one request: :class:`Accepted`, or raise a
        :class:`TwilioError`. Never retries by itself."""
        options: dict[str, Any] = {"to": to, "body": body}
        if messaging_service_sid:
            options["messaging_service_sid"] = messaging_service_sid
        else:
            options["from_"] = from_number
        if status_callback:
            options["status_callback"] = status_callback
        return self._call(lambda: self._sdk.messages.create(**options))

    def place_call(
        self,
        *,
        to: str,
        from_number: str,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None,
    ) -> Accepted:
        """Call ``to``: its TwiML fetched from ``url`` (POST), or ``twiml`` inline."""
        options: dict[str, Any] = {"to": to, "from_": from_number}
        if url is not None:
            options.update(url=url, method="POST")
        else:
            options["twiml"] = twiml
        if status_callback:
            options.update(
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
            )
        return self._call(lambda: self._sdk.calls.create(**options))

    def _call(self, create: Any) -> Accepted:
        try:
            found = create()
        except NoAnswer as failure:
            raise self._no_answer(failure) from None
        except TwilioRestException as err:
            said = self.scrub(_one_line(str(err.msg or "")))
            said = said.removeprefix("Unable to create record: ")
            code = str(err.code) if err.code not in (None, err.status) else None
            retry = self._transport.last_headers.get("Retry-After")
            raise classify(int(err.status), code, said, name=self.name, retry=retry) from None
        except TwilioException as err:  # a service error (RFC 9457) and the like
            status: int = int(getattr(err, "status", 0) or 0)
            code = getattr(err, "code", None)
            said = self.scrub(_one_line(str(err)))
            if status:
                raise classify(status, str(code) if code else None, said, name=self.name) from None
            raise MaybeSent(f"{self.name} answered something unreadable ({said})") from None
        except ValueError:  # a 2xx whose body is not JSON
            raise MaybeSent(f"{self.name} answered 2xx with a body that is not JSON") from None
        sid = str(getattr(found, "sid", None) or "")
        if not _SID.fullmatch(sid):
            raise MaybeSent(f"{self.name} answered 2xx without a SID it could be traced by")
        said_status = getattr(found, "status", None)
        return Accepted(sid, str(said_status) if said_status is not None else None)

    def _no_answer(self, failure: NoAnswer) -> TwilioError:
        said = failure.explain(self.name, self.timeout, self.scrub)
        return MaybeSent(said) if failure.reached else NotConnected(said)
