"""The simulated account's standing: ExoPhones (``IncomingPhoneNumbers``), the customer
whitelist, KYC and credentials, set from Python and through ``/_sim``, and what Exotel's API
answers for each over real HTTP."""

from __future__ import annotations

from typing import Any

import requests

from notifykit_exotel.simulator import ExotelSimulator

V2 = "/v2_beta/Accounts/ACsim/IncomingPhoneNumbers"


def admin(sim: ExotelSimulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_sim/{path}", json=body, timeout=5)


def exophones(api: requests.Session) -> list[dict[str, Any]]:
    answer = api.get(api.sim.base_url + V2)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    items: list[dict[str, Any]] = answer.json()["incoming_phone_numbers"]
    return items


def call_form(caller_id: str) -> dict[str, str]:
    return {"From": "+919876543210", "To": "+919812345678", "CallerId": caller_id}


def test_the_default_exophone_is_listed_and_any_caller_id_is_accepted(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    (phone,) = exophones(api)
    assert phone == {
        "sid": "sim8047112345",
        "phone_number": "+918047112345",
        "friendly_name": "08047112345",
        "capabilities": {"voice": True, "sms": True},
        "country": "IN",
        "region": None,
    }
    assert api.post("Calls/connect.json", data=call_form("08011112222")).status_code == 200


def test_exophones_added_changed_and_removed_over_admin(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    assert admin(sim, "POST", "exophones", {"number": "08011112222", "voice": False}).ok
    listed = {p["friendly_name"]: p["capabilities"] for p in exophones(api)}
    assert listed["08011112222"] == {"voice": False, "sms": True}
    assert admin(sim, "DELETE", "exophones", {"number": "08047112345"}).ok
    assert [p["friendly_name"] for p in exophones(api)] == ["08011112222"]
    # Once removed, calls are held to the account's ExoPhones; one without voice is refused too.
    for caller_id in ("08047112345", "08011112222"):
        refused = api.post("Calls/connect.json", data=call_form(caller_id))
        assert refused.status_code == 400
        assert refused.json()["RestException"]["Message"] == "CallerId is not a valid ExoPhone"
    missing = admin(sim, "DELETE", "exophones", {"number": "08047112345"})
    assert missing.status_code == 404 and "not an ExoPhone" in missing.json()["error"]
    assert admin(sim, "POST", "exophones", {"number": "not a number"}).status_code == 400


def test_exophones_page(sim: ExotelSimulator, api: requests.Session) -> None:
    for n in range(3):
        sim.add_exophone(f"0801111000{n}")
    first = api.get(sim.base_url + V2, params={"page_size": "2"}).json()
    assert len(first["incoming_phone_numbers"]) == 2
    assert first["next_page_uri"] == f"{V2}?page=1&page_size=2"
    second = api.get(sim.base_url + first["next_page_uri"]).json()
    assert len(second["incoming_phone_numbers"]) == 2 and "next_page_uri" not in second
    assert api.get(sim.base_url + V2, params={"page_size": "0"}).status_code == 400


def test_the_customer_whitelist(sim: ExotelSimulator, api: requests.Session) -> None:
    assert api.get("CustomerWhitelist/+919876543210.json").json() == {
        "Result": {"Status": "Neutral", "Type": "", "Expiry": -1}
    }
    assert admin(sim, "POST", "whitelist", {"number": "09876543210", "status": "Whitelist"}).ok
    assert api.get("CustomerWhitelist/9876543210.json").json()["Result"] == {
        "Status": "Whitelist",
        "Type": "API",
        "Expiry": 15552000,
    }
    bad = admin(sim, "POST", "whitelist", {"number": "+919876543210", "status": "Maybe"})
    assert bad.status_code == 400 and "Whitelist, Blacklist, Neutral" in bad.json()["error"]
    assert admin(sim, "GET", "account").json()["whitelist"] == {"9876543210": "Whitelist"}


def test_number_metadata_over_admin(sim: ExotelSimulator, api: requests.Session) -> None:
    body = {"number": "+919876543210", "dnd": True, "type": "Landline"}
    assert admin(sim, "POST", "numbers", body).ok
    info = api.get("Numbers/+919876543210.json").json()["Numbers"]
    assert (info["DND"], info["Type"]) == ("Yes", "Landline")


def test_kyc_pending_refuses_sends_and_account_lookups(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    assert admin(sim, "PATCH", "account", {"kyc": "pending"}).json()["kyc"] == "pending"
    voice = api.post("Calls/connect.json", data=call_form("08047112345"))
    assert voice.status_code == 403
    assert voice.json()["RestException"] == {
        "Status": 403,
        "Message": "Your account is not yet KYC compliant. This is mandatory by TRAI "
        "guidelines to connect outbound voice calls.",
    }  # as observed: no Code on voice
    sms = api.post("Sms/send.json", data={"From": "NKALRT", "To": "+919876543210", "Body": "x"})
    assert sms.status_code == 403 and sms.json()["RestException"]["Code"] == 340030
    for path in ("Numbers/+919876543210.json", "CustomerWhitelist/+919876543210.json"):
        assert api.get(path).json()["RestException"]["Code"] == 340030
    assert api.get(sim.base_url + V2).status_code == 403
    assert sim.calls == {} and sim.messages == {}
    admin(sim, "PATCH", "account", {"kyc": "verified"})
    assert api.get(sim.base_url + V2).status_code == 200


def test_revoked_credentials_answer_401_everywhere(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    assert admin(sim, "PATCH", "account", {"credentials": "revoked"}).ok
    for answer in (api.get(sim.base_url + V2), api.get("Numbers/+919876543210.json")):
        assert answer.status_code == 401
        assert answer.json()["RestException"]["Code"] == 34010
    assert admin(sim, "PATCH", "account", {"credentials": "valid"}).ok
    assert api.get("Numbers/+919876543210.json").status_code == 200
    wrong = admin(sim, "PATCH", "account", {"kyc": "done"})
    assert wrong.status_code == 400 and "'pending' or 'verified'" in wrong.json()["error"]


def test_reset_restores_the_account(sim: ExotelSimulator) -> None:
    sim.remove_exophone("08047112345")
    sim.set_kyc_pending()
    sim.revoke_credentials()
    sim.set_whitelist("+919876543210", "Whitelist")
    sim.reset()
    assert sim.account == {
        "kyc": "verified",
        "credentials": "valid",
        "exophones": [{"number": "08047112345", "voice": True, "sms": True}],
        "exophones_enforced": False,
        "whitelist": {},
    }
