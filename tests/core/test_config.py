"""Config validation: every class of problem, reported with file, line and key path, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.config.loader import find_config, load_config
from notifykit.config.settings import Settings
from notifykit.errors import ConfigError, ConfigNotFoundError
from notifykit.plugins import Registry, get_plugin_manager

from .conftest import write_templates

GOOD = """\
version: 1
defaults:
  severity: warning
  channels: [sms]
accounts:
  main:
    provider: exotel
    sid: ${NK_SID}
    token: ${NK_TOKEN}
    region: mumbai
channels:
  sms:
    type: exotel-sms
    account: main
    dlt_entity_id: "1201177860312735154"
    senders:
      default: {from: NKALRT, priority: normal}
      critical: {from: NKALRT, priority: high}
  call:
    type: exotel-call
    account: main
    caller_id: "08088919888"
    connect_to: "+919800000000"
  console: {type: console}
recipients:
  alice: {name: Alice, phone: "+919876543210"}
  bob: {phone: "09876543211"}
groups:
  oncall: [alice, bob]
templates:
  directory: tpl
  db_down:
    dlt_template_id: "1207161234567890123"
    sms_type: transactional
    dlt_pattern: "DB {#var#} down"
events:
  db.down: {template: db_down, channels: [sms], to: [oncall], severity: critical}
"""


@pytest.fixture
def registry() -> Registry:
    return Registry.from_manager(get_plugin_manager(disabled=[]))


@pytest.fixture
def env() -> dict[str, str]:
    return {"NK_SID": "ACxyz", "NK_TOKEN": "tok-secret-value"}


def write(tmp_path: Path, text: str) -> Path:
    write_templates(tmp_path / "tpl", db_down__sms="DB {{ host }} down", db_down__voice="v")
    path = tmp_path / "notifykit.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, registry: Registry, env: dict[str, str]) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry, environ=env)
    prefix = f"{path}:"
    return [str(p).removeprefix(prefix) for p in info.value.problems]


def test_good_config_loads_everything(tmp_path, registry, env):
    config = load_config(write(tmp_path, GOOD), registry=registry, environ=env)
    assert config.accounts["main"].settings["sid"] == "ACxyz"
    assert config.accounts["main"].settings["region"] == "mumbai"
    assert config.accounts["main"].settings["api_key"] is None
    assert config.channels["sms"].settings["senders"]["critical"] == {
        "from": "NKALRT",
        "priority": "high",
    }
    assert config.channels["call"].settings["caller_id"] == {"default": "08088919888"}
    assert config.recipients["bob"].phone == "+919876543211"
    assert config.groups == {"oncall": ("alice", "bob")}
    assert config.templates["db_down"]["dlt_template_id"] == "1207161234567890123"
    assert config.events["db.down"].to == ("oncall",)
    assert "tok-secret-value" in config.secrets
    assert "tok-secret-value" not in repr(config)


def test_missing_file_is_config_not_found(tmp_path, registry):
    with pytest.raises(ConfigNotFoundError, match="not found"):
        load_config(tmp_path / "nope.yaml", registry=registry)


def test_yaml_syntax_error_has_a_line(tmp_path, registry, env):
    assert problems(tmp_path, "version: 1\nchannels: [a\nb: c\n", registry, env)[0].startswith(
        "3: invalid YAML"
    )


def test_unknown_keys_with_did_you_mean(tmp_path, registry, env):
    text = GOOD.replace("    account: main\n    dlt_entity", "    acount: main\n    dlt_entity")
    text = text.replace("groups:", "grups:")
    found = problems(tmp_path, text, registry, env)
    assert any(
        p.startswith("14: channels.sms.acount: unknown key 'acount' (did you mean 'account'?)")
        for p in found
    ), found
    assert "13: channels.sms.account: missing required key 'account'" in found
    assert any(
        p.startswith("28: grups: unknown section 'grups' (did you mean 'groups'?)") for p in found
    )


def test_wrong_types_and_bad_enum_values(tmp_path, registry, env):
    text = GOOD.replace("region: mumbai", "region: mumbay").replace(
        "severity: warning", "severity: [warning]"
    )
    text = text.replace(
        'connect_to: "+919800000000"', 'connect_to: "+919800000000"\n    time_limit: lots'
    )
    found = problems(tmp_path, text, registry, env)
    assert (
        "3: defaults.severity: expected one of info, warning, error, critical, got a list" in found
    )
    assert (
        "10: accounts.main.region: 'mumbay' is not one of singapore, mumbai (did you mean 'mumbai'?)"
        in found
    )
    assert "24: channels.call.time_limit: expected an integer, got the string 'lots'" in found


def test_out_of_range_integer(tmp_path, registry, env):
    text = GOOD.replace(
        'connect_to: "+919800000000"', 'connect_to: "+919800000000"\n    time_limit: 99999'
    )
    assert "24: channels.call.time_limit: must be at most 14400, got 99999" in problems(
        tmp_path, text, registry, env
    )


def test_undefined_references(tmp_path, registry, env):
    text = (
        GOOD.replace("    account: main\n    dlt", "    account: mian\n    dlt")
        .replace("oncall: [alice, bob]", "oncall: [alice, bobby]")
        .replace("channels: [sms], to: [oncall]", "channels: [smss], to: [oncall]")
    )
    found = problems(tmp_path, text, registry, env)
    assert (
        "14: channels.sms.account: no account named 'mian' in accounts (did you mean 'main'?)"
        in found
    )
    assert (
        "29: groups.oncall[1]: no recipient or group named 'bobby' in recipients or groups "
        "(did you mean 'bob'?)" in found
    )
    assert (
        "37: events.db.down.channels[0]: no channel named 'smss' in channels (did you mean 'sms'?)"
        in found
    )


def test_missing_template_variant_for_an_event_channel(tmp_path, registry, env):
    text = GOOD.replace("template: db_down, channels: [sms]", "template: db_dwn, channels: [sms]")
    found = problems(tmp_path, text, registry, env)
    assert (
        "37: events.db.down.template: template 'db_dwn' has no 'sms' variant (db_dwn.sms.j2), "
        "which channel 'sms' (exotel-sms) renders" in found
    )


def test_template_settings_for_a_template_that_does_not_exist(tmp_path, registry, env):
    text = GOOD.replace("  db_down:\n    dlt_template_id", "  db_dowm:\n    dlt_template_id")
    found = problems(tmp_path, text, registry, env)
    assert any(
        p.startswith("32: templates.db_dowm: no template files named db_dowm.*.j2") for p in found
    )


def test_invalid_phone_numbers(tmp_path, registry, env):
    text = GOOD.replace('phone: "09876543211"', 'phone: "12345"').replace(
        'connect_to: "+919800000000"', 'connect_to: "+91 98"'
    )
    found = problems(tmp_path, text, registry, env)
    hint = (
        "write it in E.164 (+91XXXXXXXXXX), or as an Indian number: 10 digits, or with a 0 or 91 "
        "prefix (09876543210, 919876543210)"
    )
    assert f"27: recipients.bob.phone: '12345' is not a valid phone number: {hint}" in found
    assert f"23: channels.call.connect_to: '+91 98' is not a valid phone number: {hint}" in found


def test_duplicate_keys(tmp_path, registry, env):
    text = GOOD.replace("  bob: {phone:", "  alice: {phone:")
    found = problems(tmp_path, text, registry, env)
    assert "27: recipients.alice: duplicate key 'alice' (first defined on line 26)" in found


def test_unset_environment_variable_is_named(tmp_path, registry):
    found = problems(tmp_path, GOOD, registry, {"NK_SID": "ACxyz"})
    assert found == [
        "9: accounts.main.token: environment variable NK_TOKEN not set (read here as "
        "${NK_TOKEN}): set it in the environment, or run with --dry-run (sends nothing) or "
        "--sandbox (the local simulator)"
    ]


def test_unset_variable_of_an_ordinary_key_has_no_dry_run_hint(tmp_path, registry, env):
    text = GOOD.replace("region: mumbai", "region: ${NK_REGION}")
    assert problems(tmp_path, text, registry, env) == [
        "10: accounts.main.region: environment variable NK_REGION not set (read here as "
        "${NK_REGION}): set it in the environment"
    ]


def test_env_defaults_and_escapes(tmp_path, registry):
    text = GOOD.replace("region: mumbai", "region: ${NK_REGION:-singapore}").replace(
        'dlt_pattern: "DB {#var#} down"', 'dlt_pattern: "DB {#var#} down"'
    )
    text = text.replace("sid: ${NK_SID}", "sid: ${NK_SID}\n    api_key: ${NK_KEY:-}")
    config = load_config(
        write(tmp_path, text), registry=registry, environ={"NK_SID": "A", "NK_TOKEN": "t"}
    )
    assert config.accounts["main"].settings["region"] == "singapore"
    assert config.accounts["main"].settings["api_key"] is None  # empty means unset


def test_unknown_channel_type_and_provider(tmp_path, registry, env):
    text = GOOD.replace("type: exotel-call", "type: exotel-cal").replace(
        "provider: exotel", "provider: exotell"
    )
    found = problems(tmp_path, text, registry, env)
    assert any(
        p.startswith(
            "7: accounts.main.provider: unknown provider 'exotell' (did you mean 'exotel'?)"
        )
        for p in found
    ), found
    assert any(
        p.startswith("20: channels.call.type: unknown channel type 'exotel-cal' (did you mean")
        for p in found
    ), found


class OtherAccount(Settings):
    key: str | None = None


def test_channel_account_of_the_wrong_provider(tmp_path, registry, env):
    from notifykit import hookimpl
    from notifykit.channels import Provider

    class Other:
        @hookimpl
        def register_providers(self, register):
            register(Provider("other", OtherAccount, connect=lambda settings, context: None))

    pm = get_plugin_manager(disabled=[], plugins=[Other()])
    text = GOOD.replace(
        "channels:\n  sms:", "  alt:\n    provider: other\n    key: k\nchannels:\n  sms:"
    )
    text = text.replace("    account: main\n    dlt", "    account: alt\n    dlt")
    found = problems(tmp_path, text, Registry.from_manager(pm), env)
    assert (
        "17: channels.sms.account: account 'alt' is a 'other' account, but channel type "
        "'exotel-sms' needs a 'exotel' account" in found
    )


def test_severity_tables_need_a_default(tmp_path, registry, env):
    text = GOOD.replace("      default: {from: NKALRT, priority: normal}\n", "")
    found = problems(tmp_path, text, registry, env)
    assert any(p.startswith("17: channels.sms.senders: missing 'default'") for p in found), found


def test_group_cycles_and_name_clashes(tmp_path, registry, env):
    text = GOOD.replace(
        "oncall: [alice, bob]", "oncall: [alice, night]\n  night: [oncall]\n  bob: [alice]"
    )
    found = problems(tmp_path, text, registry, env)
    assert any("groups include each other in a cycle" in p for p in found), found
    assert any(p.startswith("31: groups.bob: 'bob' is both a recipient and a group") for p in found)


def test_bad_dlt_pattern_and_template_id(tmp_path, registry, env):
    text = GOOD.replace('dlt_template_id: "1207161234567890123"', 'dlt_template_id: "12O7"')
    found = problems(tmp_path, text, registry, env)
    assert "33: templates.db_down.dlt_template_id: '12O7' is not a numeric DLT template id" in found


def test_all_problems_at_once_sorted_by_line(tmp_path, registry):
    text = GOOD.replace("region: mumbai", "region: x").replace('phone: "09876543211"', "phone: 1")
    found = problems(tmp_path, text, registry, {})
    lines = [int(p.split(":")[0]) for p in found]
    assert lines == sorted(lines) and len(found) == 4  # sid, token, region, phone


def test_unquoted_numeric_ids_keep_their_digits(tmp_path, registry, env):
    text = GOOD.replace(
        'dlt_entity_id: "1201177860312735154"', "dlt_entity_id: 1201177860312735154"
    )
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    assert config.channels["sms"].settings["dlt_entity_id"] == "1201177860312735154"


def test_merge_keys_are_applied(tmp_path, registry, env):
    text = GOOD.replace(
        "  call:\n    type: exotel-call\n    account: main\n",
        "  call: &call\n    type: exotel-call\n    account: main\n",
    ).replace(
        "  console: {type: console}",
        "  call2:\n    <<: *call\n    time_limit: 60\n  console: {type: console}",
    )
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    assert config.channels["call2"].settings["time_limit"] == 60
    assert config.channels["call2"].settings["connect_to"] == {"default": "+919800000000"}


def test_sandbox_mode_does_not_need_account_secrets(tmp_path, registry):
    config = load_config(write(tmp_path, GOOD), registry=registry, sandbox=True, environ={})
    assert config.sandbox and config.accounts["main"].settings["token"] is None


def test_nothing_is_sent_from_an_invalid_config(tmp_path, exotel_simulator):
    text = GOOD.replace("region: mumbai", f"base_url: {exotel_simulator.base_url}\n    regio: x")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(path, environ={"NK_SID": "ACsim", "NK_TOKEN": "sim-token"})
    assert [p.path for p in info.value.problems] == ["accounts.main.regio"]
    assert exotel_simulator.requests == []


def test_mapping_configs_have_no_line_numbers(registry):
    with pytest.raises(ConfigError) as info:
        load_config({"chanels": {}}, registry=registry)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.path) == ("<config>", None, "chanels")
    # The list of sections grows (routing, limiter...): check its head, not all of it.
    assert problem.message.startswith(
        "unknown section 'chanels' (did you mean 'channels'?); allowed: version, defaults, "
        "accounts, channels, recipients, groups, templates, events, store, server, worker, retry"
    )
    assert str(info.value.problems[0]).startswith("<config>: chanels: unknown section")


def test_find_config_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    with pytest.raises(ConfigNotFoundError, match="--config FILE"):
        find_config()
    (tmp_path / "notifykit.yaml").write_text("version: 1\n")
    assert find_config() == Path("notifykit.yaml")
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\n")
    monkeypatch.setenv("NOTIFYKIT_CONFIG", str(other))
    assert find_config() == other
    monkeypatch.setenv("NOTIFYKIT_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigNotFoundError, match="from NOTIFYKIT_CONFIG"):
        find_config()


def test_no_config_points_at_notifykit_init_not_a_file_the_wheel_lacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    with pytest.raises(ConfigNotFoundError) as info:
        find_config()
    message = str(info.value)
    assert "config.example.yaml" not in message  # only a source checkout has it
    assert "notifykit init" in message
    assert "--config FILE" in message and "NOTIFYKIT_CONFIG" in message
    for missing in (tmp_path / "gone.yaml", None):
        if missing is None:
            monkeypatch.setenv("NOTIFYKIT_CONFIG", str(tmp_path / "gone.yaml"))
        with pytest.raises(ConfigNotFoundError, match="notifykit init"):
            find_config(missing)


def test_the_example_config_is_valid(registry):
    root = Path(__file__).resolve().parents[2]
    config = load_config(
        root / "config.example.yaml",
        registry=registry,
        environ={"EXOTEL_SID": "AC1", "EXOTEL_TOKEN": "t0ken"},
    )
    assert set(config.channels) == {"sms", "call", "ivr", "console"}
    assert config.groups["everyone"] == ("alice", "bob", "+919812345678")


def test_template_syntax_errors_are_config_problems_at_load(tmp_path, registry, env):
    path = write(tmp_path, GOOD)
    (tmp_path / "tpl" / "db_down.sms.j2").write_text("DB {{ host }\n down")
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry, environ=env)
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (37, "events.db.down.template")
    assert "template 'db_down.sms' (" in problem.message and "line 1) has a syntax error" in (
        problem.message
    )
