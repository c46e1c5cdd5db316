"""The notifykit CLI: every command (the exit code table is tested in test_exit_codes.py)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from importlib.metadata import entry_points

import pytest
import requests
import yaml

from notifykit.config.loader import _SECTIONS
from tests.cli.support import EXAMPLE, TOKEN, run, sms_posts

# -- notify -----------------------------------------------------------------------------------


def test_notify_sends_and_prints_each_delivery(sim, config_file):
    result = run("--config", str(config_file), "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == 0, result.output
    assert "db.down (critical): 4 deliveries: 4 sent" in result.stdout
    sids = [line.split()[5] for line in result.stdout.splitlines() if " sent " in line]
    assert len(sids) == 4 and set(sids[:2]) <= set(sim.messages) and set(sids[2:]) <= set(sim.calls)
    [post] = sms_posts(sim)
    assert post.field("Body").startswith("ALERT CRITICAL: database db1 is down since ")
    assert post.field("Priority") == "high"


def test_notify_json_and_options(sim, config_file):
    result = run(
        "-c", str(config_file), "--json", "notify", "disk.full",
        "--severity", "error", "--to", "alice,+919812345678", "--channel", "sms",
        "--data", "message=95% full", "--data", "pct:=95",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["severity"] == "error" and report["counts"] == {"sent": 2}
    assert [d["address"] for d in report["deliveries"]] == ["+919876543210", "+919812345678"]
    assert report["messages"]["sms"] == "ERROR disk.full: 95% full"
    assert all(d["provider_id"] in sim.messages for d in report["deliveries"])


def test_global_options_may_follow_the_command(sim, config_file):
    before = run("-c", str(config_file), "--dry-run", "--json", "notify", "db.down", "-d", "host=x")
    after = run("notify", "db.down", "-d", "host=x", "--dry-run", "--json", "-c", str(config_file))
    assert after.exit_code == before.exit_code == 0, after.output
    assert json.loads(after.stdout)["dry_run"] is True
    assert sim.requests == []
    checked = run("config", "check", str(EXAMPLE), "--sandbox")
    assert checked.exit_code == 0, checked.output  # --sandbox: unset secrets are fine
    assert "1 account, 4 channels" in checked.stdout


def test_dry_run_sends_nothing(sim, config_file):
    result = run("-c", str(config_file), "--dry-run", "notify", "db.down", "--data", "host=db1")
    assert result.exit_code == 0
    assert "4 dry-run" in result.stdout and "sms message:" in result.stdout
    assert sim.requests == []
    # The sandbox banner must not claim a dry run sent anything.
    sandboxed = run(
        "-c", str(EXAMPLE), "--sandbox", "--dry-run", "notify", "db.down", "-d", "host=x"
    )
    assert sandboxed.exit_code == 0, sandboxed.output
    assert sandboxed.stdout.startswith("sandbox, dry run: nothing was sent\n")
    assert " sent " not in sandboxed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["notify", "db.down", "--data", "host=db1", "--to", "alcie"], "did you mean 'alice'"),
        (["notify", "db.down"], "TemplateRenderError"),  # host missing
        (["notify", "x", "--data", "novalue"], "is not KEY=VALUE"),
        (["notify", "x", "--severity", "fatal"], "'fatal' is not one of"),
        (["notify", "x", "--channel", "smss", "--to", "alice"], "no channel named 'smss'"),
        (["notify", "x", "--bogus"], "No such option '--bogus'"),
        (["nonsense"], "No such command 'nonsense'"),
        (["send", "sms", "--to", "alice", "--body", "a", "--template", "b"], "not both"),
        (["send", "call", "--channel", "sms", "--to", "alice"], "is a sms channel"),
        (["status", "abc", "--account", "nope"], "no account named 'nope'"),
    ],
)
def test_usage_errors_exit_3_with_one_clear_line(sim, config_file, args, message):
    result = run("-c", str(config_file), *args)
    assert result.exit_code == 3, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert sim.requests == []


def test_invalid_config_exits_3_listing_every_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "channels:\n  sms: {type: exotel-sms, acount: x}\nrecipients:\n  a: {phone: '1'}\n"
    )
    result = run("-c", str(bad), "notify", "x")
    assert result.exit_code == 3
    assert "error: invalid configuration (4 problem(s)):" in result.stderr
    assert f"{bad}:2: channels.sms.acount: unknown key 'acount' (did you mean 'account'?)" in (
        result.stderr
    )
    assert f"{bad}:4: recipients.a.phone: '1' is not a valid phone number" in result.stderr


def test_json_errors_are_json_on_stdout_too(sim, config_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nchanels: {}\n")
    result = run("--json", "-c", str(bad), "notify", "x")
    assert result.exit_code == 3
    assert json.loads(result.stdout) == {
        "ok": False,
        "exit_code": 3,
        "error": {
            "type": "ConfigError",
            "message": "invalid configuration (1 problem(s))",
            "problems": [
                {
                    "file": str(bad),
                    "line": 2,
                    "path": "chanels",
                    # the section list grows (routing, limiter...): the loader's own list
                    "message": "unknown section 'chanels' (did you mean 'channels'?); allowed: "
                    + ", ".join(_SECTIONS),
                }
            ],
        },
    }
    assert f"{bad}:2: chanels: unknown section" in result.stderr  # the human line stays

    result = run("--json", "-c", str(config_file), "notify", "db.down", "--to", "nobody")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"] == {
        "type": "RecipientError",
        "message": "no recipient or group named 'nobody'",
    }
    result = run("--json", "-c", str(config_file), "notify", "db.down", "--severity", "bad")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["type"] == "BadParameter"
    assert sim.requests == []


def test_missing_config_exits_3():
    result = run("notify", "x")
    assert result.exit_code == 3
    assert "no notifykit config" in result.stderr and "NOTIFYKIT_CONFIG" in result.stderr


def test_default_config_location(sim, config_file, monkeypatch):
    monkeypatch.chdir(config_file.parent)
    result = run("--dry-run", "notify", "db.down", "--data", "host=x")
    assert result.exit_code == 0, result.output


# -- send ---------------------------------------------------------------------------------------


def test_send_sms_with_a_body(sim, config_file):
    result = run("-c", str(config_file), "send", "sms", "--to", "bob", "--body", "Deploy done")
    assert result.exit_code == 0, result.output
    [post] = sms_posts(sim)
    assert post.fields["Body"] == "Deploy done" and post.fields["From"] == "NKALRT"
    assert post.fields["To"] == "+919876543211" and post.fields["Priority"] == "normal"


def test_send_call_and_flow(sim, config_file):
    result = run("-c", str(config_file), "send", "call", "--to", "alice")
    assert result.exit_code == 0, result.output
    flow = run(
        "-c", str(config_file), "send", "flow", "--to", "+919812345678",
        "--template", "db_down", "--data", "host=db9",
    )  # fmt: skip
    assert flow.exit_code == 0, flow.output
    calls = [r for r in sim.requests if r.path.endswith("/Calls/connect.json")]
    assert calls[0].fields["To"] == "+919800000000" and calls[0].fields["From"] == "+919876543210"
    assert "db9" in calls[1].fields["CustomField"]


def test_send_with_a_template_checks_dlt(sim, config_file):
    result = run(
        "-c", str(config_file), "send", "sms", "--to", "alice", "--template", "otp",
        "--data", "otp=4821",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sms_posts(sim)[0].fields["DltTemplateId"] == "1207161234567890124"


# -- config check ------------------------------------------------------------------------------


def test_config_check_ok(config_file):
    result = run("config", "check", str(config_file))
    assert result.exit_code == 0
    assert result.stdout.strip().endswith(
        "OK (1 account, 4 channels, 2 recipients, 2 groups, 2 templates, 2 events)"
    )


def test_config_check_prints_file_line_path_message(config_file, monkeypatch):
    broken = config_file.with_name("broken.yaml")
    broken.write_text(config_file.read_text().replace("region: mumbai", "region: mumbia"))
    result = run("config", "check", str(broken))
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        f"{broken}:15: accounts.exotel-main.region: 'mumbia' is not one of singapore, mumbai "
        "(did you mean 'mumbai'?)"
    ]
    assert "1 problem" in result.stderr
    # An unset secret is no problem here (CI checks the file without the credentials): a
    # warning, which --strict makes fail.
    monkeypatch.delenv("EXOTEL_TOKEN")
    result = run("config", "check", str(EXAMPLE))
    assert result.exit_code == 0
    token = 1 + EXAMPLE.read_text().splitlines().index(
        "    token: ${EXOTEL_TOKEN}        # the API token; never shown in logs, reports or errors"
    )
    assert result.stdout.splitlines()[0] == (
        f"warning: {EXAMPLE}:{token}: accounts.exotel-main.token: environment variable EXOTEL_TOKEN "
        "not set (read here as ${EXOTEL_TOKEN}): fine for this run, which sends nothing; set it "
        "before notify, submit, worker or serve"
    )
    assert run("config", "check", str(EXAMPLE), "--strict").exit_code == 3
    sandboxed = run("--sandbox", "config", "check", str(EXAMPLE), "--strict")
    assert sandboxed.exit_code == 0


def test_config_check_agrees_with_notify_on_what_plugins_refuse(sim, config_file):
    # The schema lets both app_id and url through; the flow channel refuses the pair when it
    # is built. `config check` must say so (with the line), not "OK" for a config notify rejects.
    text = config_file.read_text()
    config_file.write_text(text.replace("  ivr:\n", "  ivr:\n    url: https://example.com/flow\n"))
    line = config_file.read_text().splitlines().index("  ivr:") + 1
    expected = f"{config_file}:{line}: channels.ivr: give exactly one of app_id"

    checked = run("config", "check", str(config_file))
    assert checked.exit_code == 3
    assert checked.stdout.startswith(expected)
    notified = run("-c", str(config_file), "notify", "db.down", "--data", "host=db1")
    assert notified.exit_code == 3
    assert expected in notified.stderr
    assert sim.requests == []


def test_config_check_json(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n")
    result = run("--json", "config", "check", str(bad))
    assert result.exit_code == 3
    assert json.loads(result.stdout)["problems"] == [
        {"file": str(bad), "line": 1, "path": "version", "message": "must be at most 1, got 2"}
    ]


# -- templates ---------------------------------------------------------------------------------


def test_templates_render_shows_encoding_segments_and_dlt(config_file):
    result = run("-c", str(config_file), "templates", "render", "db_down", "-d", "host=db1",
                 "-d", "since=2026-11-28T04:00:00Z", "-s", "critical")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ALERT CRITICAL: database db1 is down since 28 Nov 2026 09:30 IST. -ACME Ops" in out
    assert "encoding: GSM-7, 75 chars, length 75, 1 segment" in out
    assert "DLT: match ('CRITICAL', 'db1', '28 Nov 2026 09:30 IST')" in out
    assert "db_down.voice" in out


def test_templates_render_unicode_json(config_file):
    result = run("-c", str(config_file), "--json", "templates", "render", "db_down_hi.sms",
                 "-d", "host=db1", "-d", "since=2026-11-28T04:00:00Z")  # fmt: skip
    assert result.exit_code == 0, result.output
    rendered = json.loads(result.stdout)
    assert rendered["encoding"] == "UCS-2" and rendered["segments"] == 1
    assert rendered["dlt"] is None


def test_templates_render_dlt_mismatch_exits_3(config_file, tmp_path):
    data = yaml.safe_load(config_file.read_text())
    data["templates"]["db_down"]["dlt_pattern"] = "DB {#var#} is down"
    config_file.write_text(yaml.safe_dump(data))
    result = run("-c", str(config_file), "templates", "render", "db_down.sms", "-d", "host=x")
    assert result.exit_code == 3
    assert "DLT: MISMATCH" in result.stdout


def test_templates_render_missing_variable_and_unknown_template(config_file):
    missing = run("-c", str(config_file), "templates", "render", "db_down.sms")
    assert missing.exit_code == 3 and "host" in missing.stderr
    unknown = run("-c", str(config_file), "templates", "render", "nope")
    assert unknown.exit_code == 3 and "no template nope.sms or nope.voice" in unknown.stderr


def test_templates_render_and_list_without_a_config():
    result = run("templates", "render", "default.sms", "-d", "message=hi", "-e", "e")
    assert result.exit_code == 0, result.output
    assert "WARNING e: hi" in result.stdout
    listing = run("templates", "list")
    assert listing.exit_code == 0 and "default.voice.j2" in listing.stdout


# -- plugins, status, misc ---------------------------------------------------------------------


def test_plugins_lists_plugins_hooks_and_channel_types():
    result = run("plugins")
    assert result.exit_code == 0
    # the installed distribution that registers the entry point (notifykit-pager), once
    [dist] = {ep.dist.name for ep in entry_points(group="notifykit", name="exotel") if ep.dist}
    assert f"exotel ({dist} 0.1.0)" in result.stdout
    assert "channel type exotel-sms:" in result.stdout
    assert "console (notifykit (built-in) 0.1.0)" in result.stdout
    as_json = json.loads(run("--json", "plugins").stdout)
    assert as_json["channel_types"]["exotel-flow"]["template"] == "voice"
    exotel = next(p for p in as_json["plugins"] if p["name"] == "exotel")
    assert exotel["hooks"] == [
        "register_channel_types",
        "register_checks",
        "register_commands",
        "register_providers",
        "register_routes",
        "register_template_settings",
    ]
    assert exotel["checks"] == ["exotel.account", "exotel.dlt", "exotel.sms-ids"]
    assert exotel["commands"] == ["flows", "simulator"]
    assert "  command simulator: Run the local Exotel simulator" in result.stdout


def test_plugins_shows_blocked_plugins(monkeypatch):
    monkeypatch.setenv("NOTIFYKIT_DISABLE_PLUGINS", "exotel")
    result = run("plugins")
    assert "exotel (blocked by NOTIFYKIT_DISABLE_PLUGINS)" in result.stdout
    assert "channel type exotel-sms" not in result.stdout


def test_status_of_an_sms_and_a_call(sim, config_file):
    sent = json.loads(
        run("-c", str(config_file), "--json", "send", "sms", "--to", "alice", "--body", "x").stdout
    )
    sid = sent["deliveries"][0]["provider_id"]
    result = run("-c", str(config_file), "status", sid)
    assert result.exit_code == 0, result.output
    assert "kind" in result.stdout and sid in result.stdout and "+919876543210" in result.stdout
    call = json.loads(run("-c", str(config_file), "--json", "send", "call", "--to", "bob").stdout)
    call_sid = call["deliveries"][0]["provider_id"]
    looked_up = json.loads(
        run("-c", str(config_file), "--json", "status", call_sid, "--kind", "call").stdout
    )
    assert looked_up["kind"] == "call" and looked_up["sid"] == call_sid


def test_status_unknown_sid_exits_2(sim, config_file):
    result = run("-c", str(config_file), "status", "0000")
    assert result.exit_code == 2
    assert "no SMS or call with Sid '0000'" in result.stderr


def test_version_and_help():
    assert run("--version").stdout.strip() == "notifykit, version 0.1.0"
    helped = run("--help")
    assert helped.exit_code == 0 and "Exit codes" in helped.stdout
    assert run().exit_code in (0, 3)  # no command: click's help


def test_quickstart_runs_as_a_real_process_with_no_environment(tmp_path):
    """The README quickstart, verbatim, via `python -m notifykit`, without EXOTEL_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "NOTIFYKIT_"))}
    completed = subprocess.run(
        [
            sys.executable, "-m", "notifykit", "--sandbox", "--config", str(EXAMPLE),
            "notify", "db.down", "--severity", "critical", "--data", "host=db1", "--to", "oncall",
        ],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = [
        line for line in completed.stdout.splitlines() if line.startswith("  ") and " sent " in line
    ]
    assert len(lines) == 4
    assert all(len(line.split()[5]) == 32 for line in lines)  # Exotel Sids
    assert "Traceback" not in completed.stderr


# -- issue 6: the small ones -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--data-json", "[" * 100_000 + "]" * 100_000],  # json itself: RecursionError
        ["--data-json", '{"a": ' * 40 + "1" + "}" * 40],  # parses, but too deep to pass on
        ["--data", "k:=" + "[" * 5000 + "]" * 5000],
    ],
    ids=["data-json-100000", "data-json-40", "data-5000"],
)
def test_deeply_nested_json_data_is_a_usage_error(sim, config_file, args):
    result = run("-c", str(config_file), "notify", "db.down", *args)
    assert result.exit_code == 3, result.output
    assert "JSON nested too deeply (more than 32 levels" in result.stderr
    assert "internal error" not in result.stderr
    assert len(result.stderr) < 400  # one clear line, not the input echoed back
    assert sim.requests == []


def test_json_data_within_the_depth_limit_is_passed_on(sim, config_file):
    nested = '{"host": "db1", "deep": ' + "[" * 30 + "]" * 30 + "}"
    result = run("-c", str(config_file), "--dry-run", "notify", "db.down", "--data-json", nested)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["db_down.sms.j2", "db_down.sms"])
def test_templates_render_of_the_listed_file_name_runs_the_checks(config_file, name):
    listed = run("-c", str(config_file), "templates", "list").stdout
    assert "db_down.sms.j2" in listed.split()
    result = run("-c", str(config_file), "templates", "render", name, "-d", "host=db1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("db_down.sms  (")
    assert "encoding: GSM-7" in result.stdout and "DLT: match" in result.stdout
    # and a mismatch is caught under either name
    data = yaml.safe_load(config_file.read_text())
    data["templates"]["db_down"]["dlt_pattern"] = "DB {#var#} is down"
    config_file.write_text(yaml.safe_dump(data))
    mismatch = run("-c", str(config_file), "templates", "render", name, "-d", "host=db1")
    assert mismatch.exit_code == 3 and "DLT: MISMATCH" in mismatch.stdout


def test_templates_render_of_a_voice_file_name(config_file):
    result = run("-c", str(config_file), "--json", "templates", "render", "db_down.voice.j2",
                 "-d", "host=db-1")  # fmt: skip
    assert result.exit_code == 0, result.output
    rendered = json.loads(result.stdout)
    assert rendered["template"] == "db_down.voice" and "db 1" in rendered["body"]


def test_a_disabled_plugin_name_that_matches_nothing_is_a_warning(sim, config_file, monkeypatch):
    monkeypatch.setenv("NOTIFYKIT_DISABLE_PLUGINS", "exotl")
    result = run("-c", str(config_file), "plugins")
    assert result.exit_code == 0
    from notifykit.plugins import known_plugin_names

    known = ", ".join(known_plugin_names())  # the installed entry points, then the built-ins
    assert "exotel" in known and known.endswith("console, india")
    assert (
        "warning: NOTIFYKIT_DISABLE_PLUGINS names 'exotl', which matches no plugin (did you "
        f"mean 'exotel'?), so it blocks nothing; known plugins: {known}"
    ) in result.stderr
    assert "channel type exotel-sms" in result.stdout  # not blocked: the name matched nothing
    assert "exotl (named in NOTIFYKIT_DISABLE_PLUGINS, but matches no plugin)" in result.stdout


def test_config_check_prints_warnings_and_fails_them_with_strict(config_file):
    text = config_file.read_text()
    config_file.write_text(text.replace("${EXOTEL_TOKEN}", TOKEN))
    result = run("config", "check", str(config_file))
    assert result.exit_code == 0, result.output
    assert re.search(rf"^warning: {re.escape(str(config_file))}:\d+: accounts\.exotel-main\.token",
                     result.stdout, re.M)  # fmt: skip
    assert result.stdout.rstrip().endswith(", 1 warning")
    strict = run("config", "check", "--strict", str(config_file))
    assert strict.exit_code == 3
    assert "1 warning (--strict)" in strict.stderr
    as_json = json.loads(run("--json", "config", "check", str(config_file)).stdout)
    assert as_json["ok"] and as_json["warnings"][0]["path"] == "accounts.exotel-main.token"


def test_simulator_command_passes_its_arguments_through(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "notifykit", "simulator", "--port", "0", "--sid", "ACpass",
         "--token", "pass-token"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in process.stdout], daemon=True).start()
    try:
        base_url = None
        deadline = time.monotonic() + 30
        while base_url is None and time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "listening on" in line:
                base_url = line.split("listening on", 1)[1].strip()
        assert base_url, "the simulator did not say where it listens"
        answer = requests.post(
            f"{base_url}/v1/Accounts/ACpass/Sms/send.json",
            data={"From": "NKALRT", "To": "+919876543210", "Body": "hi"},
            auth=("ACpass", "pass-token"),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text  # --sid and --token reached it
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert code == 0


def test_simulator_command_help_and_usage_errors():
    helped = run("simulator", "--help")
    assert helped.exit_code == 0 and "--port" in helped.stdout
    bad = run("simulator", "--bogus")
    assert bad.exit_code == 3 and "unrecognized arguments: --bogus" in bad.stderr
    assert "simulator" in run("--help").stdout


def test_simulator_is_the_exotel_plugins_command(tmp_path):
    from notifykit.cli import cli
    from notifykit.cli.common import is_pass_through

    owner, command = cli.plugin_commands()["simulator"]
    assert owner == "exotel" and command.callback.__module__ == "notifykit_exotel.cli"
    assert is_pass_through(command)  # no global options after it: its arguments are its own
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    blocked = subprocess.run(
        [sys.executable, "-m", "notifykit", "simulator", "--help"],
        env={**env, "NOTIFYKIT_DISABLE_PLUGINS": "exotel"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert blocked.returncode == 3 and "No such command 'simulator'" in blocked.stderr


def test_config_check_strict_warns_about_a_time_interval_without_location(config_file):
    data = yaml.safe_load(config_file.read_text())
    data["time_intervals"] = {
        "nights": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}],
        "weekends": [{"weekdays": ["saturday", "sunday"], "location": "Asia/Kolkata"}],
    }
    data["route"] = {
        "receiver": "ops",
        "routes": [
            {
                "matchers": ['event="x"'],
                "receiver": "ops",
                "mute_time_intervals": ["nights", "weekends"],
            }
        ],
    }
    data["receivers"] = {"ops": {"channels": ["sms"], "to": ["oncall"]}}
    config_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    result = run("config", "check", str(config_file))
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.stdout.splitlines() if "time_intervals" in x]
    assert re.match(
        rf"warning: {re.escape(str(config_file))}:\d+: time_intervals\.nights\[0\]: no location",
        line,
    )
    assert "Asia/Kolkata" in line and "weekends" not in result.stdout
    assert run("config", "check", "--strict", str(config_file)).exit_code == 3
