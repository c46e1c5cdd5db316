"""``notifykit doctor --online`` against the Exotel simulator over real HTTP, each problem
planted in the simulated account (through its Python API, and through ``/_sim`` as another
process would): a caller id that is not an ExoPhone or has no voice, numbers on DND and NDNC
not whitelisted, a landline an SMS reaches, KYC pending, revoked credentials. Doctor only
reads: no call or SMS is ever sent."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.doctor.support import (
    ALICE,
    BOB,
    BRIDGE,
    EXOPHONE,
    SID,
    TOKEN,
    Project,
    doctor,
    make_project,
)


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN, exophones=[EXOPHONE]) as simulator:
        yield simulator
        sent = [r.path for r in simulator.requests if r.method != "GET"]
        assert sent == [], "doctor must only read"


@pytest.fixture
def project(tmp_path: Path, sim: ExotelSimulator) -> Project:
    return make_project(tmp_path, sim.base_url)


def admin(sim: ExotelSimulator, method: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{sim.base_url}/_sim/{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)


def where(project: Project, needle: str, path: str) -> str:
    return f"error: {project.path}:{project.line(needle)}: {path}: "


def test_a_healthy_account_passes_and_doctor_asked_for_every_number(
    project: Project, sim: ExotelSimulator
) -> None:
    run = doctor(project, "--online")
    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        f"{project.path}: OK (checks: exotel.dlt, exotel.sms-ids, exotel.account, msg91.dlt, twilio.config; online)"
    ]
    paths = [r.path for r in sim.requests]
    assert f"/v2_beta/Accounts/{SID}/IncomingPhoneNumbers" in paths
    for number in (ALICE, BOB, BRIDGE):
        assert f"/v1/Accounts/{SID}/Numbers/{number}.json" in paths
    assert not any("CustomerWhitelist" in p for p in paths)  # nobody is on DND


def test_a_caller_id_that_is_not_an_exophone_is_an_error(
    project: Project, sim: ExotelSimulator
) -> None:
    sim.remove_exophone(EXOPHONE)
    sim.add_exophone("08047112399")
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith(
        where(project, 'caller_id: "08047112345"', "channels.call.caller_id")
        + "08047112345 is not an ExoPhone of account main (its ExoPhones: 08047112399): "
        'Exotel refuses the call (400 "CallerId is not a valid ExoPhone")'
    )


def test_a_caller_id_without_voice_is_an_error(project: Project, sim: ExotelSimulator) -> None:
    admin(sim, "POST", "exophones", {"number": EXOPHONE, "voice": False})
    (error,) = doctor(project, "--online").lines("error")
    assert error.startswith(where(project, 'caller_id: "08047112345"', "channels.call.caller_id"))
    assert "without voice capability" in error


def test_a_caller_id_per_severity_names_the_severity(
    project: Project, sim: ExotelSimulator
) -> None:
    project.replace(
        '    caller_id: "08047112345"\n',
        '    caller_id:\n      default: "08047112345"\n      critical: "08047199999"\n',
    )
    (error,) = doctor(project, "--online").lines("error")
    assert error.startswith(
        where(project, 'critical: "08047199999"', "channels.call.caller_id.critical")
    )


def test_an_ndnc_number_a_call_reaches_must_be_whitelisted(
    project: Project, sim: ExotelSimulator
) -> None:
    sim.mark_dnd(BOB)
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith(where(project, 'phone: "+919876543211"', "recipients.bob.phone"))
    assert "on India's DND/NDNC registry and not on account main's customer whitelist" in error
    assert "CustomerWhitelist: Neutral" in error
    assert "POST CustomerWhitelist" in error
    assert f"/v1/Accounts/{SID}/CustomerWhitelist/{BOB}.json" in [r.path for r in sim.requests]

    admin(sim, "POST", "whitelist", {"number": BOB, "status": "Whitelist"})
    run = doctor(project, "--online")
    assert run.code == 0, run.stdout

    sim.set_whitelist(BOB, "Whitelist", expiry=3 * 86400)
    (warning,) = doctor(project, "--online").lines("warning")
    assert "whitelisted on account main for only 3 more days" in warning

    sim.set_whitelist(BOB, "Blacklist")
    (error,) = doctor(project, "--online").lines("error")
    assert "has opted out of account main's calls (CustomerWhitelist: Blacklist)" in error


def test_dnd_only_matters_to_sms_when_they_are_promotional(
    project: Project, sim: ExotelSimulator
) -> None:
    project.replace("channels: [sms, call]", "channels: [sms]")
    sim.mark_dnd(ALICE)
    assert doctor(project, "--online").code == 0  # transactional SMS reach DND numbers
    project.replace("sms_type: transactional", "sms_type: promotional")
    project.replace("{from: NKALRT}", '{from: "600123"}')
    run = doctor(project, "--online")
    (error,) = run.lines("error")
    assert error.startswith(where(project, 'phone: "+919876543210"', "recipients.alice.phone"))
    assert "a promotional SMS reaches it (events.db.down, template db_down)" in error
    assert "(failed_dnd)" in error


def test_a_landline_an_sms_reaches_is_an_error(project: Project, sim: ExotelSimulator) -> None:
    admin(sim, "POST", "numbers", {"number": ALICE, "type": "Landline"})
    (error,) = doctor(project, "--online").lines("error")
    assert error.startswith(where(project, 'phone: "+919876543210"', "recipients.alice.phone"))
    assert "is a Landline number" in error and "cannot receive SMS" in error


def test_kyc_pending_is_one_finding_with_its_fix(project: Project, sim: ExotelSimulator) -> None:
    sim.mark_dnd(BOB)  # would be a finding of its own, were the account not refused first
    admin(sim, "PATCH", "account", {"kyc": "pending"})
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith(where(project, "  main:", "accounts.main"))
    assert "account main is not KYC compliant (HTTP 403, code 340030" in error
    assert "complete KYC on the Exotel dashboard" in error
    assert [r.path for r in sim.requests] == [f"/v2_beta/Accounts/{SID}/IncomingPhoneNumbers"]


def test_kyc_refused_on_a_later_lookup_is_still_one_finding(
    project: Project, sim: ExotelSimulator
) -> None:
    # Exotel may answer the ExoPhone list and refuse the number lookups: one finding all the same.
    from notifykit_exotel.simulator import Fault

    sim.inject(
        Fault(status=403, code=340030, message="Your account is not yet KYC compliant",
              path="Numbers/"),
        times=10,
    )  # fmt: skip
    run = doctor(project, "--online")
    assert len(run.lines("error")) == 1
    assert "not KYC compliant" in run.lines("error")[0]


def test_revoked_credentials_are_one_finding_naming_the_fix(
    project: Project, sim: ExotelSimulator
) -> None:
    sim.revoke_credentials()
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert error.startswith(where(project, "  main:", "accounts.main"))
    assert "Exotel refused account main's credentials (HTTP 401, code 34010" in error
    assert "check sid, api_key and token" in error
    assert f"region ({sim.base_url})" in error
    assert TOKEN not in run.stdout + run.stderr


def test_a_wrong_token_in_the_environment_is_the_same_finding(
    project: Project, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_TOKEN", "not-the-token-at-all")
    run = doctor(project, "--online")
    (error,) = run.lines("error")
    assert "refused account main's credentials" in error
    assert "not-the-token-at-all" not in run.stdout + run.stderr


def test_online_needs_the_secrets(
    project: Project, sim: ExotelSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCTOR_TOKEN")
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert "DOCTOR_TOKEN" in error and "accounts.main.token" in error
    assert sim.requests == []
    assert doctor(project).code == 0  # offline needs none


def test_an_unreachable_provider_is_an_error_not_a_pass(project: Project) -> None:
    project.replace(f"base_url: {project.text.split('base_url: ')[1].split()[0]}",
                    "base_url: http://127.0.0.1:9")  # fmt: skip
    run = doctor(project, "--online")
    assert run.code == 3
    (error,) = run.lines("error")
    assert "could not reach Exotel for account main" in error


def test_json_online(project: Project, sim: ExotelSimulator) -> None:
    sim.mark_dnd(BOB)
    data = doctor(project, "--online", "--json").json()
    assert data["online"] is True and data["ok"] is False
    assert data["checks"] == [
        "exotel.dlt",
        "exotel.sms-ids",
        "exotel.account",
        "msg91.dlt",
        "twilio.config",
    ]
    (finding,) = data["findings"]
    assert finding["check"] == "exotel.account"
    assert finding["path"] == "recipients.bob.phone"


def test_a_number_sender_must_be_an_exophone_with_sms(
    project: Project, sim: ExotelSimulator
) -> None:
    project.replace("{from: NKALRT}", '{from: "08047112399"}')
    (error,) = doctor(project, "--online").lines("error")
    assert error.startswith(
        where(project, '{from: "08047112399"}', "channels.sms.senders.default.from")
        + "08047112399 is not an ExoPhone of account main"
    )
    sim.add_exophone("08047112399", sms=False)
    (error,) = doctor(project, "--online").lines("error")
    assert "without SMS capability" in error


def test_the_number_a_call_connects_to_is_checked_too(
    project: Project, sim: ExotelSimulator
) -> None:
    sim.mark_dnd(BRIDGE)
    (error,) = doctor(project, "--online").lines("error")
    assert error.startswith(
        where(project, 'connect_to: "+919800000001"', "channels.call.connect_to")
    )
    assert "not on account main's customer whitelist" in error
