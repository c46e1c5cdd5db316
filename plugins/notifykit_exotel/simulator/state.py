"""The simulated Exotel account: calls, SMS, number metadata, and the API logic that serves them.

This module knows nothing about HTTP: each endpoint is a method that takes the parsed form or
query and returns the JSON payload to answer, or raises :class:`~.wire.ApiError`. Progression
(``deliver_sms``/``complete_call``) returns the status callbacks to send, so the caller can send
them outside the state lock.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from .account import SimAccount
from .progression import CallPlan, Rules, SmsPlan
from .wire import (
    ApiError,
    Form,
    array_field,
    e164_form,
    is_phone_number,
    last_digits,
    national_form,
    nested_array,
    now_ist,
    rest_exception,
)

MAX_TIME_LIMIT = 14400
MAX_BODY_CHARS = 2000
MAX_RECIPIENTS = 100
MAX_BULK_MESSAGES = 100
MAX_LIST_SIDS = 100
MAX_LIST_NUMBERS = 5
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
#: Price per started minute of a call and per SMS unit, so Price looks like Exotel's "1.500".
CALL_PRICE_PER_MINUTE = 1.5
SMS_PRICE_PER_UNIT = 0.18

CALL_TERMINAL = ("completed", "failed", "busy", "no-answer", "canceled")
CALL_STATUSES = ("queued", "ringing", "in-progress", *CALL_TERMINAL)
CALL_EVENTS = ("terminal", "answered")
SMS_STATUSES = ("queued", "sending", "submitted", "sent", "failed_dnd", "failed")
SMS_TERMINAL = ("sent", "failed_dnd", "failed")

#: Reference §5.6: DetailedStatusCode -> (Status, DetailedStatus).
DETAILED_STATUS: dict[int, tuple[str, str]] = {
    21010: ("queued", "PENDING_TO_OPERATOR"),
    21015: ("sending", "SENDING_TO_OPERATOR"),
    21020: ("submitted", "PENDING_ON_OPERATOR"),
    20005: ("sent", "DELIVERED_TO_HANDSET"),
    20006: ("sent", "DELIVERED_TO_OPERATOR"),
    23005: ("failed_dnd", "FAILED_REJECTED_DND"),
    23010: ("failed", "FAILED_INVALID_DESTINATION_NUMBER"),
    23015: ("failed", "FAILED_SPAM_DETECTED"),
    23020: ("failed", "FAILED_REJECTED_BLACKLIST"),
    23030: ("failed", "FAILED_UNAVAILABLE_ROUTE"),
    23035: ("failed", "FAILED_SUBSCRIBER_UNAVAILABLE"),
    23040: ("failed", "FAILED_SUBSCRIBER_UNKNOWN"),
    23050: ("failed", "FAILED_EXPIRED"),
    23060: ("failed", "FAILED_REJECTED"),
    23070: ("failed", "FAILED_INVALID_MESSAGE"),
    23072: ("failed", "FAILED_INVALID_SENDER_ID"),
    23080: ("failed", "SENDER_BLOCKED_BY_DLT"),
    23081: ("failed", "ENTITY_BLOCKED_BY_DLT"),
    23082: ("failed", "TEMPLATE_BLOCKED_BY_DLT"),
    23083: ("failed", "FAILED_DLT_SCRUBBING_ERROR"),
    23084: ("failed", "FAILED_DLT_CONSENT_ERROR"),
    23181: ("failed", "DLT_TEMPLATE_ID_INVALID"),
    23182: ("failed", "DLT_TEMPLATE_ID_NOT_FOUND"),
    23183: ("failed", "DLT_TEMPLATE_ID_INACTIVE"),
    23184: ("failed", "DLT_TEMPLATE_ID_BLACKLISTED"),
    23185: ("failed", "DLT_TEMPLATE_DOES_NOT_MATCH"),
    23186: ("failed", "DLT_LENGTH_EXCEEDED"),
    23281: ("failed", "DLT_ENTITY_NOT_FOUND"),
    24010: ("failed", "FAILED_SYSTEM_ERROR"),
    24105: ("failed", "FAILED_HANDSET_ERROR"),
    24110: ("failed", "FAILED_OPERATOR_ERROR"),
    24120: ("failed", "FAILED_SUBSCRIBER_ERROR"),
    24990: ("failed", "FAILED_UNKNOWN_ERROR"),
}
#: The code ``deliver_sms`` uses when the test names only a status.
DEFAULT_DETAILED_CODE = {
    "queued": 21010,
    "sending": 21015,
    "submitted": 21020,
    "sent": 20005,
    "failed_dnd": 23005,
    "failed": 23010,
}

CIRCLES = (
    ("KA", "Karnataka Telecom Circle"),
    ("MH", "Maharashtra Telecom Circle"),
    ("DL", "Delhi Metro Telecom Circle"),
    ("TN", "Tamil Nadu Telecom Circle"),
    ("MU", "Mumbai Metro Telecom Circle"),
    ("KO", "Kolkata Metro Telecom Circle"),
    ("AP", "Andhra Pradesh Telecom Circle"),
    ("GJ", "Gujarat Telecom Circle"),
)
OPERATORS = (("A", "Airtel"), ("J", "Reliance Jio"), ("V", "Vodafone Idea"), ("B", "BSNL"))

#: What ``SMSMessage.From`` shows before the sender ID when the account configured no ExoPhone:
#: Exotel echoes ``<ExoPhone>/<SenderID>`` (reference §5.1, ``0XXXXXX4890/WEBDEV``).
DEFAULT_EXOPHONE = "08047112345"
#: The sender ID linked to the account's ExoPhones, shown after an ExoPhone sent as ``From``
#: (the reference's sample response echoes ``xxxxxxxxx/EXOTEL``).
DEFAULT_SENDER_ID = "EXOTEL"
#: Code for "array passed where a string is expected" (reference §7, SMS codes).
ARRAY_FOR_STRING = 40207
#: SMS steps before the final state, in Exotel's order (reference §5.5).
SMS_STEPS = ("queued", "sending", "submitted")

CallbackKind = Literal["call", "sms"]


@dataclass(frozen=True)
class PendingCallback:
    """A status callback to send: where, in which media type, and the fields before encoding."""

    url: str
    media_type: str
    fields: dict[str, Any]
    kind: CallbackKind
    sid: str


@dataclass
class CallRecord:
    """One call: its public JSON object plus the request settings Exotel keeps with it."""

    obj: dict[str, Any]
    settings: dict[str, str]
    events: list[str]
    seq: int
    leg1_status: str | None = "in-progress"
    leg2_status: str | None = None
    leg1_duration: int = 0
    leg2_duration: int = 0
    conversation_duration: int = 0
    answered_by: str | None = None
    plan: CallPlan = field(default_factory=CallPlan)


@dataclass
class SmsRecord:
    """One SMS: its public JSON object plus the request settings kept for the callback."""

    obj: dict[str, Any]
    settings: dict[str, str]
    unicode: bool
    seq: int
    plan: SmsPlan = field(default_factory=SmsPlan)


@dataclass
class NumberOverride:
    """Answers a test pinned for one number through ``set_number_info``."""

    values: dict[str, str] = field(default_factory=dict)


def _new_sid() -> str:
    return uuid.uuid4().hex


def _clean(
    form: Form,
    *,
    mandatory: Mapping[str, int | None],
    arrays: Iterable[str] = (),
    array_code: int | None = None,
) -> Form:
    """The form as Exotel reads it: empty optional fields dropped, single values enforced.

    Older clients (the PHP seed among them) send every optional field, empty when unused
    (``TimeLimit=&StatusCallback=``): Exotel's reference never says it rejects them, so an empty
    optional field counts as not sent. An empty *mandatory* field is still an error, with the
    code in ``mandatory`` (None for voice, whose errors carry no code). A field sent twice that is
    not one of the ``arrays`` (``Body=a&Body=b``) is 400 "array passed where a string is
    expected" rather than last-one-wins.
    """
    array_names = set(arrays)
    cleaned: Form = {}
    for key, values in form.items():
        base = key.split("[", 1)[0]
        if base in mandatory and all(value == "" for value in values):
            raise ApiError(400, f"Invalid Parameters: {key} is empty", mandatory[base])
        kept = values if base in mandatory else [value for value in values if value != ""]
        if not kept:
            continue
        if len(kept) > 1 and base not in array_names:
            raise ApiError(
                400,
                f"Invalid Parameters: {key} was sent {len(kept)} times: array passed where a "
                "string is expected",
                array_code,
            )
        cleaned[key] = kept
    return cleaned


def _last(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


def _choice(form: Form, name: str, allowed: Iterable[str], code: int | None = None) -> str | None:
    value = _last(form, name)
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise ApiError(400, f"Invalid Parameters: {name} must be one of {', '.join(allowed)}", code)
    return value


def _check_url(form: Form, name: str, code: int | None = None) -> str | None:
    value = _last(form, name)
    if value is not None and not re.match(r"^https?://\S+$", value):
        raise ApiError(400, f"Invalid Parameters: {name} is not a valid URL", code)
    return value


def _compare_with(compare: Callable[[str, str], bool], bound: str, created: str) -> bool:
    # Timestamps share one fixed-width format, so string order is time order.
    return compare(created, bound)


def _int_field(form: Form, name: str, low: int, high: int | None) -> int | None:
    value = _last(form, name)
    if value is None:
        return None
    if (
        not re.fullmatch(r"\d+", value)
        or int(value) < low
        or (high is not None and int(value) > high)
    ):
        limit = f" (at most {high})" if high is not None else ""
        raise ApiError(400, f"Invalid Parameters: {name} must be a whole number{limit}")
    return int(value)


class SimState:
    """The account's calls and messages, guarded by one lock (handlers run on many threads)."""

    def __init__(
        self,
        account_sid: str,
        exophones: Iterable[str] | None = None,
        on_created: Callable[[CallbackKind, str], None] | None = None,
        rules: Rules | None = None,
        sender_id: str | None = DEFAULT_SENDER_ID,
    ) -> None:
        self.account_sid = account_sid
        self.sender_id = sender_id
        listed = None if exophones is None else list(exophones)
        self.exophone = listed[0] if listed else DEFAULT_EXOPHONE
        #: ExoPhones, customer whitelist, KYC, credentials (see :mod:`.account`)
        self.account = SimAccount(listed, DEFAULT_EXOPHONE)
        self.rules = rules if rules is not None else Rules()
        self.on_created = on_created
        self.lock = threading.RLock()
        self._calls: dict[str, CallRecord] = {}
        self._messages: dict[str, SmsRecord] = {}
        self._numbers: dict[str, NumberOverride] = {}
        self._seq = itertools.count()

    # --- snapshots and housekeeping --------------------------------------------------------

    def calls(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            # The same object GET Calls/<sid> answers (PreSignedRecordingUrl included).
            return {sid: self._public_call(record) for sid, record in self._calls.items()}

    def messages(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {sid: copy.deepcopy(record.obj) for sid, record in self._messages.items()}

    def reset(self) -> None:
        with self.lock:
            self._calls.clear()
            self._messages.clear()
            self._numbers.clear()
        self.account.reset()

    def _uri(self, resource: str) -> str:
        return f"/v1/Accounts/{self.account_sid}/{resource}"

    def _created(self, kind: CallbackKind, sid: str) -> None:
        if self.on_created is not None:
            self.on_created(kind, sid)

    # --- calls ------------------------------------------------------------------------------

    _CALL_MANDATORY: ClassVar[dict[str, int | None]] = {"From": None, "CallerId": None}

    def connect_call(self, form: Form) -> dict[str, Any]:
        """``POST Calls/connect``: validate like Exotel and create an in-progress call."""
        form = _clean(form, mandatory=self._CALL_MANDATORY, arrays=("StatusCallbackEvents",))
        from_ = _last(form, "From")
        to = _last(form, "To")
        caller_id = _last(form, "CallerId")
        flow_url = _last(form, "Url")
        for name, value in (("From", from_), ("CallerId", caller_id)):
            if value is None:
                raise ApiError(400, f"Invalid Parameters: {name} is mandatory")
        assert from_ is not None
        assert caller_id is not None
        if to is None and flow_url is None:
            raise ApiError(400, "Invalid Parameters: To is mandatory (or Url for a call flow)")
        if to is not None and flow_url is not None:
            raise ApiError(400, "Invalid Parameters: send either To or Url, not both")
        for value in (from_, to):
            if value is not None and not is_phone_number(value):
                raise ApiError(400, f"Invalid Recipient [{value}]")
        self.account.check_caller_id(caller_id)
        if flow_url is not None:
            _check_url(form, "Url")
        _int_field(form, "TimeLimit", 1, MAX_TIME_LIMIT)
        _int_field(form, "TimeOut", 1, None)
        _choice(form, "CallType", ("trans",))
        record = _choice(form, "Record", ("true", "false"))
        _choice(form, "RecordingChannels", ("single", "dual"))
        _choice(form, "RecordingFormat", ("mp3", "mp3-hq"))
        _check_url(form, "StatusCallback")
        _choice(
            form,
            "StatusCallbackContentType",
            ("multipart/form-data", "application/json", "application/x-www-form-urlencoded"),
        )
        events = array_field(form, "StatusCallbackEvents") or []
        for event in events:
            if event not in CALL_EVENTS:
                raise ApiError(
                    400,
                    f"Invalid Parameters: StatusCallbackEvents value {event!r} is not "
                    "one of terminal, answered",
                )
        settings = {key: values[-1] for key, values in form.items() if values}
        settings["Record"] = record or "false"
        sid = _new_sid()
        now = now_ist()
        obj: dict[str, Any] = {
            "Sid": sid,
            "ParentCallSid": None,
            "DateCreated": now,
            "DateUpdated": now,
            "AccountSid": self.account_sid,
            "To": None if to is None else national_form(to),
            "From": national_form(from_),
            "PhoneNumberSid": caller_id,
            "Status": "in-progress",
            "StartTime": now,
            "EndTime": None,
            "Duration": None,
            "Price": None,
            "Direction": "outbound-api",
            "AnsweredBy": None,
            "ForwardedFrom": None,
            "CallerName": None,
            # The reference's connect sample writes the Uri this way: ``Calls.json/<sid>``.
            "Uri": self._uri(f"Calls.json/{sid}"),
            "RecordingUrl": None,
            "CallType": "trans",
        }
        plan = self.rules.plan_call(to if to is not None else from_)
        with self.lock:
            self._calls[sid] = CallRecord(
                obj=obj,
                settings=settings,
                events=list(dict.fromkeys(events)),
                seq=next(self._seq),
                plan=plan,
            )
            answer = {"Call": copy.deepcopy(obj)}
        self._created("call", sid)
        return answer

    def _details(self, record: CallRecord) -> dict[str, Any]:
        legs: list[dict[str, Any]] = [
            {"Leg": {"Id": 1, "OnCallDuration": record.leg1_duration}},
        ]
        if record.obj["To"] is not None:
            legs.append({"Leg": {"Id": 2, "OnCallDuration": record.leg2_duration}})
        return {
            "ConversationDuration": record.conversation_duration,
            "Leg1Status": record.leg1_status,
            "Leg2Status": record.leg2_status,
            "Legs": legs,
        }

    def get_call(self, call_sid: str, query: Form) -> dict[str, Any]:
        """``GET Calls/<sid>``, with ``details=true`` and ``RecordingUrlValidity`` (5-60 min)."""
        validity = _int_field(query, "RecordingUrlValidity", 0, None)
        if validity is not None and not 5 <= validity <= 60:
            raise ApiError(400, "Invalid Parameters: RecordingUrlValidity must be 5 to 60")
        details = (_last(query, "details") or "").lower() == "true"
        with self.lock:
            record = self._calls.get(call_sid)
            if record is None:
                raise ApiError(404, f"Call {call_sid} not found")
            obj = self._public_call(record, validity=validity or 5)
            if details:
                obj["Details"] = self._details(record)
        return {"Call": obj}

    @staticmethod
    def _public_call(record: CallRecord, validity: int = 5) -> dict[str, Any]:
        obj = copy.deepcopy(record.obj)
        if obj.get("RecordingUrl"):
            obj["PreSignedRecordingUrl"] = (
                f"{obj['RecordingUrl']}?X-Amz-Expires={validity * 60}&X-Amz-Signature=simulated"
            )
        return obj

    def list_calls(self, query: Form) -> dict[str, Any]:
        """``GET Calls``: bulk details of finished calls, filtered, sorted and cursor-paged."""
        sids = self._csv(query, "Sid", MAX_LIST_SIDS)
        tos = self._csv(query, "To", MAX_LIST_NUMBERS)
        froms = self._csv(query, "From", MAX_LIST_NUMBERS)
        numbers = self._csv(query, "PhoneNumber", MAX_LIST_NUMBERS)
        statuses = self._csv(query, "Status", None)
        for status in statuses or ():
            if status not in CALL_STATUSES:
                raise ApiError(400, f"Invalid Parameters: Status {status!r} is not a call status")
        direction = _last(query, "Direction")
        date_filter = self._date_filter(_last(query, "DateCreated"))
        page_size = _int_field(query, "PageSize", 1, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        sort_by = _last(query, "SortBy") or "DateCreated:desc"
        if sort_by not in ("DateCreated:asc", "DateCreated:desc"):
            raise ApiError(
                400, "Invalid Parameters: SortBy must be DateCreated:asc or DateCreated:desc"
            )
        after = _last(query, "After")
        before = _last(query, "Before")

        def matches(obj: dict[str, Any]) -> bool:
            if obj["Status"] not in CALL_TERMINAL:
                return False  # "Bulk Call Details will not provide ongoing calls' details"
            if sids is not None and obj["Sid"] not in sids:
                return False
            if statuses is not None and obj["Status"] not in statuses:
                return False
            if direction is not None and obj["Direction"] != direction:
                return False
            for wanted, key in ((tos, "To"), (froms, "From"), (numbers, "PhoneNumberSid")):
                if wanted is not None and last_digits(obj[key] or "") not in {
                    last_digits(n) for n in wanted
                }:
                    return False
            return all(check(obj["DateCreated"]) for check in date_filter)

        with self.lock:
            records = sorted(self._calls.values(), key=lambda r: (r.obj["DateCreated"], r.seq))
            if sort_by.endswith(":desc"):
                records.reverse()
            found = [self._public_call(r) for r in records if matches(r.obj)]
        order = [obj["Sid"] for obj in found]
        start = 0
        if after is not None:
            if after not in order:
                raise ApiError(400, "Invalid Parameters: After is not a valid cursor")
            start = order.index(after) + 1
        elif before is not None:
            if before not in order:
                raise ApiError(400, "Invalid Parameters: Before is not a valid cursor")
            start = max(0, order.index(before) - page_size)
        page = found[start : start + page_size]
        filters = [
            (key, values[-1])
            for key, values in query.items()
            if key not in ("After", "Before", "PageSize") and values
        ]
        filters.append(("PageSize", str(page_size)))

        def page_uri(extra: list[tuple[str, str]]) -> str:
            return self._uri("Calls.json") + "?" + urlencode(filters + extra)

        has_next = start + page_size < len(found)
        return {
            "Metadata": {
                "Total": len(found),
                "PageSize": page_size,
                "FirstPageUri": page_uri([]),
                "PrevPageUri": page_uri([("Before", page[0]["Sid"])])
                if start > 0 and page
                else None,
                "NextPageUri": page_uri([("After", page[-1]["Sid"])])
                if has_next and page
                else None,
            },
            "Calls": page,
        }

    @staticmethod
    def _csv(query: Form, name: str, limit: int | None) -> set[str] | None:
        value = _last(query, name)
        if value is None:
            return None
        items = {item.strip() for item in value.split(",") if item.strip()}
        if limit is not None and len(items) > limit:
            raise ApiError(400, f"Invalid Parameters: at most {limit} values allowed for {name}")
        return items

    @staticmethod
    def _date_filter(value: str | None) -> list[Callable[[str], bool]]:
        if value is None:
            return []
        checks: list[Callable[[str], bool]] = []
        operators: dict[str, Callable[[str, str], bool]] = {
            "gte": lambda a, b: a >= b,
            "lte": lambda a, b: a <= b,
            "gt": lambda a, b: a > b,
            "lt": lambda a, b: a < b,
            "eq": lambda a, b: a == b,
        }
        for clause in value.split(";"):
            op, _, stamp = clause.strip().partition(":")
            if op not in operators or not re.fullmatch(
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp.strip()
            ):
                raise ApiError(
                    400,
                    "Invalid Parameters: DateCreated must look like "
                    "gte:YYYY-MM-DD HH:MM:SS;lte:YYYY-MM-DD HH:MM:SS",
                )
            checks.append(functools.partial(_compare_with, operators[op], stamp.strip()))
        return checks

    def complete_call(
        self,
        sid: str,
        status: str = "completed",
        duration: int = 17,
        answered_by: str | None = "Human",
        recording: bool | None = None,
    ) -> list[PendingCallback]:
        """Finish a call and return its callbacks: ``answered`` (when subscribed) then terminal."""
        if status not in CALL_TERMINAL:
            raise ValueError(
                f"call status must be one of {', '.join(CALL_TERMINAL)}, not {status!r}"
            )
        with self.lock:
            record = self._calls.get(sid)
            if record is None:
                raise KeyError(f"no call with Sid {sid!r}")
            obj = record.obj
            if obj["Status"] in CALL_TERMINAL:
                raise ValueError(f"call {sid} already ended with status {obj['Status']!r}")
            answered_at = now_ist()
            answered = status == "completed"
            callbacks: list[PendingCallback] = []
            if answered and "answered" in record.events:
                record.leg1_status = "in-progress"
                record.leg2_status = "in-progress" if obj["To"] is not None else None
                callbacks.append(self._call_callback(record, "answered", answered_at))
            ended = now_ist()
            recorded = recording if recording is not None else record.settings["Record"] == "true"
            obj["Status"] = status
            obj["DateUpdated"] = ended
            obj["EndTime"] = ended
            # Unanswered calls last 0 seconds, whatever duration the caller passed.
            obj["Duration"] = str(duration if answered else 0)
            minutes = math.ceil(duration / 60) if answered else 0
            obj["Price"] = f"{minutes * CALL_PRICE_PER_MINUTE:.3f}"
            obj["AnsweredBy"] = answered_by if answered else None
            if recorded and answered:
                obj["RecordingUrl"] = (
                    "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/"
                    f"{self.account_sid}/{sid}.mp3"
                )
            record.answered_by = answered_by if answered else None
            if answered:
                record.leg1_status = "completed"
                record.leg2_status = "completed" if obj["To"] is not None else None
                # The first leg rings before the second is dialled, so it is on the call longer.
                record.leg1_duration = duration + 4
                record.leg2_duration = duration if obj["To"] is not None else 0
                record.conversation_duration = duration if obj["To"] is not None else 0
            else:
                # Exotel dials From first: an unanswered call never reaches the second leg.
                record.leg1_status = status
                record.leg2_status = None
            callbacks.append(self._call_callback(record, "terminal", ended))
        return [cb for cb in callbacks if cb.url]

    def _call_callback(self, record: CallRecord, event: str, when: str) -> PendingCallback:
        obj = record.obj
        url = record.settings.get("StatusCallback", "")
        media_type = record.settings.get("StatusCallbackContentType", "multipart/form-data")
        terminal = event == "terminal"
        fields: dict[str, Any] = {
            "CallSid": obj["Sid"],
            "DateUpdated": when,
            "Status": obj["Status"] if terminal else "in-progress",
            "RecordingUrl": obj["RecordingUrl"] if terminal else None,
        }
        if record.events:
            with_to = obj["To"] is not None
            legs = [
                {
                    "OnCallDuration": record.leg1_duration if terminal else 0,
                    "Status": record.leg1_status,
                    "AnsweredBy": "NA",
                }
            ]
            if with_to:
                legs.append(
                    {
                        "OnCallDuration": record.leg2_duration if terminal else 0,
                        "Status": record.leg2_status,
                        "AnsweredBy": record.answered_by if terminal else None,
                    }
                )
            fields.update(
                {
                    "EventType": event,
                    "DateCreated": obj["DateCreated"],
                    "StartTime": obj["StartTime"],
                    "EndTime": obj["EndTime"] if terminal else None,
                    "To": obj["To"],
                    "From": obj["From"],
                    "PhoneNumberSid": obj["PhoneNumberSid"],
                    "ConversationDuration": record.conversation_duration if terminal else 0,
                    "Direction": obj["Direction"],
                    "Legs": legs,
                }
            )
            # The console documents CustomField as passed back "only via 'terminal'".
            if terminal:
                fields["CustomField"] = record.settings.get("CustomField")
        if terminal and obj["RecordingUrl"]:
            fields["PreSignedRecordingUrl"] = self._public_call(record)["PreSignedRecordingUrl"]
        return PendingCallback(url, media_type, fields, "call", obj["Sid"])

    def call_legs(self, call_sid: str) -> dict[str, Any]:
        """``GET Calls/<sid>/Legs`` (reference §4.1; the shape is UNCONFIRMED): one entry per
        leg dialled, leg 1 to ``From`` and leg 2 to ``To``, in the ``{"Leg": {...}}`` form the
        ``Details`` block uses."""
        with self.lock:
            record = self._calls.get(call_sid)
            if record is None:
                raise ApiError(404, f"Call {call_sid} not found")
            obj = record.obj
            legs = [
                {
                    "Leg": {
                        "Id": 1,
                        "To": obj["From"],
                        "Status": record.leg1_status,
                        "OnCallDuration": record.leg1_duration,
                        "AnsweredBy": "NA",
                    }
                }
            ]
            if obj["To"] is not None and record.leg2_status is not None:
                legs.append(
                    {
                        "Leg": {
                            "Id": 2,
                            "To": obj["To"],
                            "Status": record.leg2_status,
                            "OnCallDuration": record.leg2_duration,
                            "AnsweredBy": record.answered_by,
                        }
                    }
                )
        return {"Legs": legs}

    # --- progression by plan ---------------------------------------------------------------

    def unfinished(self) -> list[tuple[CallbackKind, str]]:
        """Every call and SMS not yet in a final state, oldest first."""
        with self.lock:
            items: list[tuple[int, CallbackKind, str]] = [
                (record.seq, "call", sid)
                for sid, record in self._calls.items()
                if record.obj["Status"] not in CALL_TERMINAL
            ]
            items += [
                (record.seq, "sms", sid)
                for sid, record in self._messages.items()
                if record.obj["Status"] not in SMS_TERMINAL
            ]
        return [(kind, sid) for _, kind, sid in sorted(items)]

    def kind_of(self, sid: str) -> CallbackKind:
        """Whether ``sid`` is a call or an SMS; KeyError when it is neither."""
        with self.lock:
            if sid in self._calls:
                return "call"
            if sid in self._messages:
                return "sms"
        raise KeyError(f"no call or SMS with Sid {sid!r}")

    def advance(self, sid: str) -> tuple[bool, list[PendingCallback]]:
        """Move one item a step along its plan: an SMS ``queued → sending → submitted →`` its
        final status, a call to its final status. Returns (whether it is now final, callbacks);
        an item already final does not move."""
        with self.lock:
            if self.kind_of(sid) == "call":
                record = self._calls[sid]
                if record.obj["Status"] in CALL_TERMINAL:
                    return True, []
                plan = record.plan
                return True, self.complete_call(
                    sid, plan.status, plan.duration or 1, plan.answered_by, None
                )
            message = self._messages[sid]
            status = message.obj["Status"]
            if status in SMS_TERMINAL:
                return True, []
            step = SMS_STEPS.index(status) + 1 if status in SMS_STEPS else len(SMS_STEPS)
            if step < len(SMS_STEPS):
                self.deliver_sms(sid, SMS_STEPS[step])
                return False, []
            sms_plan = message.plan
            pending = self.deliver_sms(sid, sms_plan.status, sms_plan.detailed_status_code)
            return True, [] if pending is None else [pending]

    # --- number metadata --------------------------------------------------------------------

    def number_info(self, number: str) -> dict[str, Any]:
        """``GET Numbers/<n>``: deterministic circle/operator/DND unless a test pinned them.

        Without an override, circle and operator are picked from the digits, and ``DND`` is
        ``"Yes"`` exactly when the last digit is 7.
        """
        if not is_phone_number(number):
            raise ApiError(400, f"Invalid Parameters: {number} is not a valid phone number")
        digits = last_digits(number)
        circle, circle_name = CIRCLES[int(digits) % len(CIRCLES)]
        operator, operator_name = OPERATORS[int(digits[-4:]) % len(OPERATORS)]
        info = {
            "PhoneNumber": e164_form(number),
            "Circle": circle,
            "CircleName": circle_name,
            "Type": "Mobile",
            "Operator": operator,
            "OperatorName": operator_name,
            "DND": "Yes" if digits.endswith("7") else "No",
        }
        with self.lock:
            override = self._numbers.get(digits)
            if override is not None:
                info.update(override.values)
        return {"Numbers": info}

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
        """Pin what ``Numbers/<number>`` answers; a known code also fills in its name."""
        values: dict[str, str] = {}
        if dnd is not None:
            values["DND"] = "Yes" if dnd else "No"
        if operator is not None:
            values["Operator"] = operator
            values["OperatorName"] = dict(OPERATORS).get(operator, operator)
        if circle is not None:
            values["Circle"] = circle
            values["CircleName"] = dict(CIRCLES).get(circle, circle)
        if operator_name is not None:
            values["OperatorName"] = operator_name
        if circle_name is not None:
            values["CircleName"] = circle_name
        if number_type is not None:
            values["Type"] = number_type
        with self.lock:
            self._numbers.setdefault(last_digits(number), NumberOverride()).values.update(values)

    # --- SMS --------------------------------------------------------------------------------

    _SMS_MANDATORY: ClassVar[dict[str, int | None]] = {"From": 40205, "Body": 40200, "To": 40203}

    def _sms_options(self, form: Form) -> None:
        """Validate the options single and bulk sends share; 400 on the first bad one."""
        _choice(form, "EncodingType", ("plain", "unicode"), 40209)
        _choice(form, "Priority", ("normal", "high"), 40500)
        _choice(form, "SmsType", ("transactional", "transactional_opt_in", "promotional"), 40204)
        _choice(form, "ShortenUrl", ("true", "false"), 40500)
        _choice(
            form,
            "StatusCallbackContentType",
            ("application/x-www-form-urlencoded", "application/json", "multipart/form-data"),
            40500,
        )
        _check_url(form, "StatusCallback", 40500)

    def _sms_from(self, from_: str) -> str:
        """``From`` as Exotel echoes it: ``<ExoPhone>/<SenderID>`` (§5.1). A sender ID goes out
        from the account's ExoPhone; an ExoPhone (in any written form, echoed in the national
        form of the reference's example) with the sender ID linked to it, when there is one."""
        if "/" in from_:
            return from_
        if not is_phone_number(from_):
            return f"{self.exophone}/{from_}"
        exophone = national_form(from_)
        return f"{exophone}/{self.sender_id}" if self.sender_id else exophone

    def _new_sms(self, from_: str, to: str, body: str, settings: dict[str, str]) -> dict[str, Any]:
        sid = _new_sid()
        now = now_ist()
        unicode = settings.get("EncodingType") == "unicode"
        # The core's counter, so the simulator's SmsUnits and notifykit's report always agree;
        # imported here so that importing the simulator (like the client) loads no notifykit.
        from notifykit.text.sms import analyze_sms

        segments = analyze_sms(body, encoding="UCS-2" if unicode else None).segments
        promotional = settings.get("SmsType") == "promotional"
        dnd = promotional and self.number_info(to)["Numbers"]["DND"] == "Yes"
        plan = self.rules.plan_sms(to, dnd=dnd)
        obj: dict[str, Any] = {
            "Sid": sid,
            "AccountSid": self.account_sid,
            "From": self._sms_from(from_),
            "To": e164_form(to),
            "Body": body,
            "Status": "queued",
            "DetailedStatus": "PENDING_TO_OPERATOR",
            "DetailedStatusCode": 21010,
            "DateCreated": now,
            "DateUpdated": now,
            "DateSent": None,
            "Price": None,
            "Direction": "outbound-api",
            "ApiVersion": None,
            "Uri": self._uri(f"SMS/Messages/{sid}.json"),
            "SmsUnits": max(segments, 1),
        }
        with self.lock:
            self._messages[sid] = SmsRecord(
                obj=obj, settings=settings, unicode=unicode, seq=next(self._seq), plan=plan
            )
        self._created("sms", sid)
        return {"SMSMessage": copy.deepcopy(obj)}

    def send_sms(self, form: Form) -> Any:
        """``POST Sms/send``: one SMS, or the same body to many numbers (bulk static)."""
        form = _clean(
            form, mandatory=self._SMS_MANDATORY, arrays=("To",), array_code=ARRAY_FOR_STRING
        )
        from_ = _last(form, "From")
        body = _last(form, "Body")
        recipients = array_field(form, "To")
        if from_ is None:
            raise ApiError(400, "From is a mandatory field", 40210)
        if not recipients:
            raise ApiError(400, "Invalid Parameters: To is a mandatory field", 40500)
        if body is None:
            raise ApiError(400, "Body is empty", 40200)
        if any(value == "" for value in recipients):
            raise ApiError(400, "Invalid Parameters: To is empty", 40203)
        if len(body) > MAX_BODY_CHARS:
            raise ApiError(400, f"Body is longer than {MAX_BODY_CHARS} characters", 40202)
        if len(recipients) > MAX_RECIPIENTS:
            raise ApiError(400, f"At most {MAX_RECIPIENTS} numbers allowed in To", 40406)
        self._sms_options(form)
        if not any(is_phone_number(to) for to in recipients):
            shown = recipients[0] if len(recipients) == 1 else ", ".join(recipients)
            raise ApiError(400, f"Invalid Recipient [{shown}]", 40203)
        settings = {key: values[-1] for key, values in form.items() if values}
        items: list[Any] = []
        for to in recipients:
            if is_phone_number(to):
                items.append(self._new_sms(from_, to, body, settings))
            else:
                items.append(rest_exception(400, f"Invalid Recipient [{to}]", 40203))
        return items[0] if len(recipients) == 1 else items

    def bulk_send(self, form: Form) -> list[Any]:
        """``POST Sms/bulksend``: a different body per number, answered item by item."""
        form = _clean(form, mandatory={"From": 40205}, array_code=ARRAY_FOR_STRING)
        if "Messages" in form or "Messages[]" in form:
            raise ApiError(400, "Messages must be an array", 40208)
        messages = nested_array(form, "Messages")
        if messages is None:
            raise ApiError(400, "Messages is a mandatory field", 40201)
        if len(messages) > MAX_BULK_MESSAGES:
            raise ApiError(400, f"At most {MAX_BULK_MESSAGES} messages allowed", 40400)
        self._sms_options(form)
        top = {
            key: values[-1]
            for key, values in form.items()
            if values and not key.startswith("Messages[")
        }
        items: list[Any] = []
        for _, message in sorted(messages.items()):
            items.append(self._bulk_item(top, message))
        return items

    def _bulk_item(self, top: dict[str, str], message: dict[str, str]) -> Any:
        def error(text: str, code: int) -> dict[str, Any]:
            return rest_exception(400, text, code)

        to, body = message.get("To"), message.get("Body")
        from_ = message.get("From") or top.get("From")
        if from_ is None:
            return error("From is a mandatory field", 40210)
        if to is None or not is_phone_number(to):
            return error(f"Invalid Recipient [{to or ''}]", 40203)
        if body is None:
            return error("Body is empty", 40200)
        if len(body) > MAX_BODY_CHARS:
            return error(f"Body is longer than {MAX_BODY_CHARS} characters", 40202)
        sms_type = message.get("SmsType")
        if sms_type is not None and sms_type not in (
            "transactional",
            "transactional_opt_in",
            "promotional",
        ):
            return error("SmsType is invalid", 40204)
        settings = {**top, **message, "From": from_}
        return self._new_sms(from_, to, body, settings)

    def get_sms(self, sms_sid: str) -> dict[str, Any]:
        """``GET SMS/Messages/<sid>``; an unknown Sid answers 200 "No matching results" (sic)."""
        with self.lock:
            record = self._messages.get(sms_sid)
            if record is None:
                return {"Message": "No matching results"}
            return {"SMSMessage": copy.deepcopy(record.obj)}

    def deliver_sms(
        self,
        sid: str,
        status: str = "sent",
        detailed_status_code: int | None = None,
        sms_units: int | None = None,
    ) -> PendingCallback | None:
        """Move an SMS to ``status``; return its callback when the status is terminal."""
        if status not in SMS_STATUSES:
            allowed = ", ".join(SMS_STATUSES)
            raise ValueError(f"SMS status must be one of {allowed}, not {status!r}")
        code = (
            detailed_status_code
            if detailed_status_code is not None
            else DEFAULT_DETAILED_CODE[status]
        )
        detailed = DETAILED_STATUS.get(code, (status, "UNKNOWN"))[1]
        with self.lock:
            record = self._messages.get(sid)
            if record is None:
                raise KeyError(f"no SMS with Sid {sid!r}")
            obj = record.obj
            now = now_ist()
            units = sms_units if sms_units is not None else obj["SmsUnits"]
            obj.update(
                {
                    "Status": status,
                    "DetailedStatus": detailed,
                    "DetailedStatusCode": code,
                    "DateUpdated": now,
                    "SmsUnits": units,
                }
            )
            if status in SMS_TERMINAL:
                obj["DateSent"] = now
                obj["Price"] = f"{units * SMS_PRICE_PER_UNIT:.3f}"
            url = record.settings.get("StatusCallback")
            if status not in SMS_TERMINAL or not url:
                return None
            fields: dict[str, Any] = {
                "SmsSid": sid,
                "To": obj["To"],
                "Status": status,
                "SmsUnits": units,
                "DetailedStatus": detailed,
                "DetailedStatusCode": code,
                "DateSent": obj["DateSent"],
            }
            if record.settings.get("CustomField") is not None:
                fields["CustomField"] = record.settings["CustomField"]
            media_type = record.settings.get(
                "StatusCallbackContentType", "application/x-www-form-urlencoded"
            )
        return PendingCallback(url, media_type, fields, "sms", sid)

    def call_status(self, sid: str) -> str | None:
        with self.lock:
            record = self._calls.get(sid)
            return None if record is None else str(record.obj["Status"])

    def sms_status(self, sid: str) -> str | None:
        with self.lock:
            record = self._messages.get(sid)
            return None if record is None else str(record.obj["Status"])

    # --- calls that play a flow -------------------------------------------------------------

    def flow_call(self, sid: str) -> FlowCall | None:
        """What a flow needs of connect-to-flow call ``sid`` (None for a call without ``Url``)."""
        with self.lock:
            record = self._calls.get(sid)
            if record is None or "Url" not in record.settings:
                return None
            obj = record.obj
            return FlowCall(
                sid=sid,
                url=record.settings["Url"],
                caller=obj["From"],
                exophone=national_form(obj["PhoneNumberSid"]),
                custom_field=record.settings.get("CustomField"),
                created=obj["DateCreated"],
                plan=record.plan,
            )

    def incoming_call(self, caller: str, exophone: str) -> str:
        """A call from ``caller`` to ``exophone``, in progress while its flow plays; returns its
        Sid. ValueError for a number that is not one."""
        for name, number in (("caller", caller), ("ExoPhone", exophone)):
            if not is_phone_number(number):
                raise ValueError(f"{name} {number!r} is not a phone number")
        sid = _new_sid()
        now = now_ist()
        obj: dict[str, Any] = {
            "Sid": sid,
            "ParentCallSid": None,
            "DateCreated": now,
            "DateUpdated": now,
            "AccountSid": self.account_sid,
            "To": national_form(exophone),
            "From": national_form(caller),
            "PhoneNumberSid": national_form(exophone),
            "Status": "in-progress",
            "StartTime": now,
            "EndTime": None,
            "Duration": None,
            "Price": None,
            "Direction": "inbound",
            "AnsweredBy": None,
            "ForwardedFrom": None,
            "CallerName": None,
            "Uri": self._uri(f"Calls.json/{sid}"),
            "RecordingUrl": None,
            "CallType": "trans",
        }
        with self.lock:
            self._calls[sid] = CallRecord(
                obj=obj, settings={"Record": "false"}, events=[], seq=next(self._seq)
            )
        return sid

    def finish_incoming(
        self, sid: str, status: str, duration: int, dialled: str | None, dial_status: str | None
    ) -> None:
        """End an incoming call after its flow: ``completed`` after ``duration`` seconds, or
        ``no-answer`` (a missed call: never picked up, not charged). ``dialled`` is whom a
        connect applet rang last (leg 2), with how that leg ended."""
        with self.lock:
            record = self._calls.get(sid)
            if record is None or record.obj["Status"] in CALL_TERMINAL:
                return
            obj = record.obj
            ended = now_ist()
            answered = status == "completed"
            obj["Status"] = status
            obj["DateUpdated"] = ended
            obj["EndTime"] = ended
            obj["Duration"] = str(duration if answered else 0)
            minutes = math.ceil(duration / 60) if answered else 0
            obj["Price"] = f"{minutes * CALL_PRICE_PER_MINUTE:.3f}"
            # Reference §4.1: an inbound call's leg 1 is completed once Exotel picks up.
            record.leg1_status = "completed" if answered else status
            record.leg1_duration = duration if answered else 0
            record.leg2_status = dial_status if dialled is not None else None
            talked = dial_status == "completed"
            record.leg2_duration = duration if talked else 0
            record.conversation_duration = duration if talked else 0


@dataclass(frozen=True)
class FlowCall:
    """A connect-to-flow call as its flow sees it: the flow ``url``, the person rung
    (``caller``), the ExoPhone, ``CustomField``, when it was created, and its plan."""

    sid: str
    url: str
    caller: str
    exophone: str
    custom_field: str | None
    created: str
    plan: CallPlan
