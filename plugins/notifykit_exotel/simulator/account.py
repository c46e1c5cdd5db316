"""The simulated account's standing: its ExoPhones (``IncomingPhoneNumbers``), its customer
whitelist (``CustomerWhitelist/<n>``), its KYC and whether its credentials still work.

Each can be set by a test (the simulator's Python API, or ``/_sim/account``,
``/_sim/exophones`` and ``/_sim/whitelist``) to plant what ``notifykit doctor --online`` must
find: a caller id that is not an ExoPhone or has no voice capability, an NDNC number that is not
whitelisted, an account whose KYC is pending, revoked credentials.

Wire shapes, and what is UNCONFIRMED (reference §13):

- ``GET /v2_beta/Accounts/<sid>/IncomingPhoneNumbers`` answers
  ``{"page", "page_size", "incoming_phone_numbers": [{"sid", "phone_number", "friendly_name",
  "capabilities": {"voice", "sms"}, "country", "region"}]}`` (Exotel's newer portal). Paging
  beyond ``page``/``page_size`` is undocumented: the simulator adds ``next_page_uri`` when more
  pages follow (``?page=<n>&page_size=<k>``), and a client must not rely on it being there.
- ``GET /v1/Accounts/<sid>/CustomerWhitelist/<number>`` answers ``{"Result": {"Status":
  "Whitelist"|"Blacklist"|"Neutral", "Type": "API"|"Customer"|"Agent"|"", "Expiry": -1|<s>}}``
  (support article 3000004699 documents the XML form; the JSON keys are assumed the same).
- An account whose KYC is pending: Exotel refuses outbound calls and SMS with 403 (observed:
  voice without a code, SMS with code 340030). Whether it also refuses lookups is UNCONFIRMED;
  the simulator refuses the account-level lookups (ExoPhones, number metadata, whitelist) the
  same way, so a client's handling of the refusal can be tested.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .wire import ApiError, Form, e164_form, is_phone_number, last_digits, national_form

__all__ = ["KYC_CODE", "SimAccount", "SimExoPhone"]

#: ``RestException.Code`` of "not KYC compliant" (observed on SMS; reference §7)
KYC_CODE = 340030
#: The observed voice refusal (no code), and the SMS one (reference §7).
KYC_VOICE_MESSAGE = (
    "Your account is not yet KYC compliant. This is mandatory by TRAI guidelines to connect "
    "outbound voice calls."
)
KYC_SMS_MESSAGE = "Your account is not yet KYC compliant"
WHITELIST_STATUSES = ("Whitelist", "Blacklist", "Neutral")
#: how long an API whitelisting lasts: six months (Exotel's whitelist page)
WHITELIST_EXPIRY = 180 * 24 * 3600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

#: the endpoints a pending KYC refuses: sends (as observed) and the account-level lookups
_SENDS = {"connect_call": "voice", "send_sms": "sms", "bulk_send": "sms"}
_LOOKUPS = {"number_info", "whitelist", "exophones"}


@dataclass
class SimExoPhone:
    """One ExoPhone of the simulated account."""

    number: str
    voice: bool = True
    sms: bool = True

    def public(self, sid: str) -> dict[str, Any]:
        e164 = e164_form(self.number)
        return {
            "sid": sid,
            "phone_number": e164,
            "friendly_name": national_form(e164),
            "capabilities": {"voice": self.voice, "sms": self.sms},
            "country": "IN" if e164.startswith("+91") else None,
            "region": None,
        }


class SimAccount:
    """ExoPhones, whitelist, KYC and credentials of the simulated account (thread-safe).

    ``exophones``: the account's ExoPhones as configured (``None``: the simulator accepts any
    caller id, and lists only its default ExoPhone ``default``). Once configured, a call whose
    ``CallerId`` is not one of them, or one without voice, is refused as Exotel refuses it.
    """

    def __init__(self, exophones: Iterable[str] | None, default: str) -> None:
        listed = None if exophones is None else list(exophones)
        self._initial = listed
        self._default = default
        self._lock = threading.Lock()
        self.strict = listed is not None
        self._phones: dict[str, SimExoPhone] = {}
        self._whitelist: dict[str, tuple[str, str, int]] = {}
        self.kyc_pending = False
        self.credentials_revoked = False
        self.reset()

    def reset(self) -> None:
        """Back to the account as configured: its ExoPhones, KYC done, nothing whitelisted."""
        with self._lock:
            numbers = self._initial if self._initial is not None else [self._default]
            self._phones = {last_digits(n): SimExoPhone(n) for n in numbers}
            self._whitelist.clear()
            self.strict = self._initial is not None
            self.kyc_pending = False
            self.credentials_revoked = False

    # --- ExoPhones ------------------------------------------------------------------------

    def add_exophone(self, number: str, *, voice: bool = True, sms: bool = True) -> None:
        if not is_phone_number(number):
            raise ValueError(f"{number!r} is not a phone number")
        with self._lock:
            self._phones[last_digits(number)] = SimExoPhone(number, voice, sms)

    def remove_exophone(self, number: str) -> bool:
        """Remove an ExoPhone; whether there was one. The account's ExoPhones are then
        enforced on calls (as when the simulator was given ``exophones``)."""
        with self._lock:
            self.strict = True
            return self._phones.pop(last_digits(number), None) is not None

    def exophones(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"number": p.number, "voice": p.voice, "sms": p.sms} for p in self._phones.values()
            ]

    def check_caller_id(self, caller_id: str) -> None:
        """Refuse a call's ``CallerId`` as Exotel does (400) when the ExoPhones are enforced."""
        with self._lock:
            if not self.strict:
                return
            phone = self._phones.get(last_digits(caller_id))
        if phone is None or not phone.voice:
            raise ApiError(400, "CallerId is not a valid ExoPhone")

    def list_exophones(self, query: Form, uri: str) -> dict[str, Any]:
        """``GET IncomingPhoneNumbers``: one page (``page`` from 0, ``page_size``)."""
        page = _number(query, "page", 0, None, 0)
        size = _number(query, "page_size", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)
        with self._lock:
            phones = list(self._phones.items())
        items = [phone.public(f"sim{digits}") for digits, phone in phones]
        chunk = items[page * size : (page + 1) * size]
        answer: dict[str, Any] = {
            "page": page,
            "page_size": size,
            "incoming_phone_numbers": chunk,
        }
        if (page + 1) * size < len(items):
            answer["next_page_uri"] = f"{uri}?page={page + 1}&page_size={size}"
        return answer

    # --- customer whitelist ---------------------------------------------------------------

    def set_whitelist(
        self, number: str, status: str, *, kind: str = "API", expiry: int | None = None
    ) -> None:
        if status not in WHITELIST_STATUSES:
            raise ValueError(
                f"status must be one of {', '.join(WHITELIST_STATUSES)}, not {status!r}"
            )
        if not is_phone_number(number):
            raise ValueError(f"{number!r} is not a phone number")
        if expiry is None:
            expiry = WHITELIST_EXPIRY if status == "Whitelist" else -1
        with self._lock:
            self._whitelist[last_digits(number)] = (
                status,
                kind if status != "Neutral" else "",
                expiry,
            )

    def whitelist(self, number: str) -> dict[str, Any]:
        """``GET CustomerWhitelist/<n>``: a number nobody whitelisted is ``Neutral``."""
        if not is_phone_number(number):
            raise ApiError(400, f"Invalid Parameters: {number} is not a valid phone number")
        with self._lock:
            status, kind, expiry = self._whitelist.get(last_digits(number), ("Neutral", "", -1))
        return {"Result": {"Status": status, "Type": kind, "Expiry": expiry}}

    def whitelisted(self) -> dict[str, str]:
        with self._lock:
            return {digits: entry[0] for digits, entry in self._whitelist.items()}

    # --- KYC and credentials --------------------------------------------------------------

    def refuse_for_kyc(self, endpoint: str) -> None:
        """403 as Exotel answers an account without KYC, for the endpoints it refuses."""
        if not self.kyc_pending:
            return
        kind = _SENDS.get(endpoint)
        if kind == "voice":
            raise ApiError(403, KYC_VOICE_MESSAGE)
        if kind == "sms" or endpoint in _LOOKUPS:
            raise ApiError(403, KYC_SMS_MESSAGE, KYC_CODE)

    def describe(self) -> dict[str, Any]:
        return {
            "kyc": "pending" if self.kyc_pending else "verified",
            "credentials": "revoked" if self.credentials_revoked else "valid",
            "exophones": self.exophones(),
            "exophones_enforced": self.strict,
            "whitelist": self.whitelisted(),
        }


def _number(query: Form, name: str, low: int, high: int | None, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    value = values[-1]
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        bound = f" to {high}" if high is not None else " or more"
        raise ApiError(400, f"Invalid Parameters: {name} must be a whole number from {low}{bound}")
    return int(value)
