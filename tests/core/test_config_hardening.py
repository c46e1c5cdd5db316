"""Config files that are hostile or careless: alias bombs, recursion, deep nesting, nested
``${...}`` defaults, secrets echoed in problems or written inline, dry runs without secrets."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from notifykit.config.loader import MAX_ALIAS_NODES, MAX_DEPTH, load_config
from notifykit.config.schema import Checker, UnsetEnv, parse_env_refs
from notifykit.errors import ConfigError
from notifykit.notifier import Notifier
from notifykit.plugins import Registry, get_plugin_manager

from .test_config import GOOD, problems, write


@pytest.fixture
def registry() -> Registry:
    return Registry.from_manager(get_plugin_manager(disabled=[]))


@pytest.fixture
def env() -> dict[str, str]:
    return {"NK_SID": "ACxyz", "NK_TOKEN": "tok-secret-value"}


# A hang must fail the test, not the suite: the load runs in a child with a deadline, and "fast"
# is asserted with a bound generous enough for a loaded CI machine (each file takes ~0.2 s).
_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from notifykit.config.loader import load_config
    from notifykit.errors import ConfigError
    from notifykit.plugins import Registry, get_plugin_manager
    registry = Registry.from_manager(get_plugin_manager(disabled=[]))
    start = time.monotonic()
    try:
        load_config(sys.argv[1], registry=registry, environ={})
        outcome = {"error": None}
    except ConfigError as err:
        outcome = {"error": "ConfigError", "problems": [[p.line, p.message] for p in err.problems]}
    except BaseException as err:
        outcome = {"error": type(err).__name__, "message": str(err)[:500]}
    outcome["seconds"] = time.monotonic() - start
    print(json.dumps(outcome))
    """
)


def load_in_child(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def merge_bomb(levels: int) -> str:
    """Each level merges nine copies of the one before: 9**levels nodes, in about 500 bytes."""
    lines = ["anchors:", "  a0: &a0 {severity: info}"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i}")
        lines.append("    <<: [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines += ["defaults:", f"  <<: *a{levels}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "text", "line", "limit"),
    [
        ("six levels of merges", merge_bomb(6), 10, f"{MAX_ALIAS_NODES:,} nodes"),
        ("seven levels of merges", merge_bomb(7), 10, f"{MAX_ALIAS_NODES:,} nodes"),
        ("a self-referencing merge", "defaults: &d\n  <<: *d\n", 2, "recursive alias"),
        ("an alias inside itself", "groups: &g\n  x: [*g]\n", 2, "recursive alias"),
        (
            "a long merge chain",
            "anchors:\n  a0: &a0 {severity: info}\n"
            + "".join(f"  a{i}: &a{i} {{<<: *a{i - 1}, k{i}: 1}}\n" for i in range(1, 2000))
            + "defaults: {<<: *a1999}\n",
            73,
            f"{MAX_ALIAS_NODES:,} nodes",
        ),
        (
            "500-deep flow mappings",
            "defaults: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
            1,
            f"more than {MAX_DEPTH} levels",
        ),
        ("500-deep flow lists", "groups:\n  g: " + "[" * 500 + "1" + "]" * 500 + "\n", 2, "deep"),
    ],
)
def test_hostile_yaml_fails_fast_as_a_config_problem(tmp_path, name, text, line, limit):
    path = tmp_path / "notifykit.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = load_in_child(path)
    assert outcome["error"] == "ConfigError", outcome
    [[got_line, message]] = outcome["problems"]  # type: ignore[misc]
    assert got_line == line, outcome
    assert limit in message, outcome
    assert float(outcome["seconds"]) < 2.0, f"{name}: {outcome}"  # type: ignore[arg-type]


def test_shared_blocks_and_repeated_merges_still_load(tmp_path, registry, env):
    # The limits are for expansions no config needs; ordinary sharing is untouched, and merging
    # the same block twice gives its keys once.
    text = GOOD.replace(
        "      default: {from: NKALRT, priority: normal}",
        "      default: &sender {from: NKALRT, priority: normal}",
    ).replace(
        "      critical: {from: NKALRT, priority: high}",
        "      critical: {<<: [*sender, *sender], priority: high}\n      error: *sender",
    )
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    senders = config.channels["sms"].settings["senders"]
    assert senders["critical"] == {"from": "NKALRT", "priority": "high"}
    assert senders["error"] == {"from": "NKALRT", "priority": "normal"}


def test_a_recursive_mapping_config_is_a_config_problem(registry):
    loop: dict[str, object] = {"severity": "info"}
    loop["to"] = [loop]
    deep: dict[str, object] = {}
    for _ in range(2000):
        deep = {"a": deep}
    for source in ({"defaults": loop}, {"defaults": deep}):
        with pytest.raises(ConfigError) as info:
            load_config(source, registry=registry, environ={})
        assert info.value.problems[0].file == "<config>"


def test_long_lists_are_checked_for_repeats_in_linear_time(tmp_path, registry, env):
    members = [f"+9198{i:08d}" for i in range(3000)]
    text = GOOD.replace("oncall: [alice, bob]", "oncall: [alice, bob, " + ", ".join(members) + "]")
    start = time.monotonic()
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    assert len(config.groups["oncall"]) == 3002
    assert time.monotonic() - start < 5


# -- ${...} substitution ------------------------------------------------------------------------


def region(tmp_path: Path, registry: Registry, value: str, environ: dict[str, str]) -> object:
    text = GOOD.replace("region: mumbai", f'region: "{value}"')
    env = {"NK_SID": "ACxyz", "NK_TOKEN": "tok-secret-value", **environ}
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    return config.accounts["main"].settings["region"]


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${A:-${B}}", {"A": "mumbai"}, "mumbai"),  # was 'mumbai}'
        ("${A:-${B}}", {"B": "mumbai"}, "mumbai"),  # was the literal '${B}'
        ("${A:-${B}}", {"A": "", "B": "mumbai"}, "mumbai"),  # set but empty: the default
        ("${A:-${B:-${C:-singapore}}}", {}, "singapore"),
        ("${A:-${B:-${C:-singapore}}}", {"C": "mumbai"}, "mumbai"),
        ("${A:-sin${B:-gap}ore}", {}, "singapore"),
        ("mum${A:-}bai", {}, "mumbai"),
        ("${A}", {"A": "mumbai"}, "mumbai"),
        ("${A:-mumbai}", {}, "mumbai"),
    ],
)
def test_nested_defaults(tmp_path, registry, value, environ, expected):
    assert region(tmp_path, registry, value, environ) == expected


def test_the_default_is_only_needed_when_used(tmp_path, registry):
    # B is unset, but A is set, so ${B} is never read: no problem.
    assert region(tmp_path, registry, "${A:-${B}}", {"A": "mumbai"}) == "mumbai"
    text = GOOD.replace("region: mumbai", 'region: "${A:-${B}}"')
    assert problems(tmp_path, text, registry, {"NK_SID": "x", "NK_TOKEN": "y"}) == [
        "10: accounts.main.region: environment variable B not set (read here as ${B}): set it "
        "in the environment"
    ]


@pytest.mark.parametrize(
    "value", ["${A:-${B}", "${A", "${}", "${1A}", "${A-x}", "${A:-" * 9 + "x" + "}" * 9]
)
def test_malformed_references_are_problems(tmp_path, registry, env, value):
    text = GOOD.replace("region: mumbai", f'region: "{value}"')
    [found] = problems(tmp_path, text, registry, env)
    assert found.startswith("10: accounts.main.region: malformed environment reference"), found
    assert "${NAME:-default}" in found


def expand(text: str, environ: dict[str, str]) -> object:
    return Checker("f", environ).text(yaml.compose(json.dumps(text)), "k")


def test_escapes_and_lone_dollars():
    assert parse_env_refs("$${A} costs $5 }") == ("${A} costs $5 }",)
    assert expand("$${A} costs $5 }", {"A": "x"}) == "${A} costs $5 }"
    # a literal ${ in a default takes its } with it
    assert expand("${A:-$${B}}", {}) == "${B}"
    assert expand("${A:-$${B}}", {"A": "a", "B": "b"}) == "a"
    assert expand("${A:-x$${B}y}z", {}) == "x${B}yz"


# -- secrets ------------------------------------------------------------------------------------

TOKEN = "s3cr3t-exotel-token-value"


def assert_nowhere(err: ConfigError, secret: str) -> None:
    assert secret not in str(err)
    assert secret not in repr(err)
    assert all(secret not in repr(p) and secret not in str(p) for p in err.problems)
    assert secret.encode() not in pickle.dumps(err)
    assert secret not in str(pickle.loads(pickle.dumps(err)))


@pytest.mark.parametrize("var", ["EXOTEL_TOKEN", "NK_T1"])  # named like a secret, or not
@pytest.mark.parametrize(
    ("replace", "with_"),
    [
        # the token read into a non-secret field that rejects it, before the token field
        ("region: mumbai", "region: ${VAR}"),
        # ...and after it, in another section, with a "did you mean" on the way
        ("severity: warning\n", "severity: ${VAR}\n"),
        # into a plugin's key, as a phone number
        ('connect_to: "+919800000000"', "connect_to: ${VAR}"),
        # as a name that matches nothing
        ("    account: main\n    dlt", "    account: ${VAR}\n    dlt"),
        # as a channel type, with the account's token read later
        ("type: exotel-call", "type: ${VAR}"),
    ],
)
def test_a_secret_never_appears_in_config_errors(tmp_path, registry, var, replace, with_):
    text = GOOD.replace("token: ${NK_TOKEN}", "token: ${VAR}").replace(replace, with_)
    path = write(tmp_path, text.replace("VAR", var))
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry, environ={"NK_SID": "ACxyz", var: TOKEN})
    assert "***" in str(info.value), str(info.value)  # the problem is still reported
    assert_nowhere(info.value, TOKEN)


def test_a_secret_used_before_any_secret_field_reads_it_is_scrubbed(tmp_path, registry):
    # The provider is the token: its account's fields are never read, so only the other
    # account's token field makes the value a secret, after the problem was recorded.
    text = GOOD.replace("token: ${NK_TOKEN}", "token: x").replace(
        "provider: exotel", "provider: ${NK_T1}"
    )
    text = text.replace(
        "channels:\n",
        "  other:\n    provider: exotel\n    sid: y\n    token: ${NK_T1}\nchannels:\n",
        1,
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), registry=registry, environ={"NK_T1": TOKEN})
    assert "unknown provider '***'" in str(info.value)
    assert_nowhere(info.value, TOKEN)


def test_a_variable_named_like_a_secret_is_scrubbed_even_without_a_secret_field(
    tmp_path, registry, env
):
    text = GOOD.replace("region: mumbai", "region: ${SOME_API_KEY}")
    with pytest.raises(ConfigError) as info:
        load_config(
            write(tmp_path, text), registry=registry, environ={**env, "SOME_API_KEY": TOKEN}
        )
    assert_nowhere(info.value, TOKEN)
    assert "'***' is not one of singapore, mumbai" in str(info.value)


def test_inline_secrets_are_warnings_without_the_value(tmp_path, registry, env):
    text = GOOD.replace("token: ${NK_TOKEN}", f"token: {TOKEN}")
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    [warning] = config.warnings
    assert (warning.file, warning.line, warning.path) == (
        str(tmp_path / "notifykit.yaml"),
        9,
        "accounts.main.token",
    )
    assert "use ${ENV_VAR} instead of writing the secret in the file" in warning.message
    assert TOKEN not in repr(config.warnings)
    assert TOKEN in config.secrets  # and scrubbed from what the Notifier reports


def test_secrets_from_the_environment_give_no_warning(tmp_path, registry, env):
    assert load_config(write(tmp_path, GOOD), registry=registry, environ=env).warnings == ()


def test_a_shared_inline_secret_warns_once(tmp_path, registry, env):
    text = GOOD.replace("token: ${NK_TOKEN}", f"token: &t {TOKEN}").replace(
        "channels:\n", "  two:\n    provider: exotel\n    sid: y\n    token: *t\nchannels:\n", 1
    )
    config = load_config(write(tmp_path, text), registry=registry, environ=env)
    assert [(w.line, w.path) for w in config.warnings] == [(9, "accounts.main.token")]


# -- dry runs -----------------------------------------------------------------------------------


FINE = "fine for this run, which sends nothing; set it before notify, submit, worker or serve"


def test_a_dry_run_needs_no_secrets(tmp_path, registry):
    path = write(tmp_path, GOOD)
    config = load_config(path, registry=registry, dry_run=True, environ={"NK_SID": "ACxyz"})
    assert config.dry_run
    token = config.accounts["main"].settings["token"]
    assert isinstance(token, UnsetEnv) and token == "<unset:${NK_TOKEN}>"
    assert config.accounts["main"].settings["sid"] == "ACxyz"
    assert token not in config.secrets  # "<unset:...>" is shown, never scrubbed
    # Nothing need be set: each unset variable is a warning, and the problem a sending run
    # reports is kept (Config.unset), in the words of a load without dry_run.
    config = load_config(path, registry=registry, dry_run=True, environ={})
    assert [str(w).removeprefix(f"{path}:") for w in config.warnings] == [
        "8: accounts.main.sid: environment variable NK_SID not set (read here as ${NK_SID}): "
        + FINE,
        "9: accounts.main.token: environment variable NK_TOKEN not set (read here as "
        "${NK_TOKEN}): " + FINE,
    ]
    assert [str(p).removeprefix(f"{path}:") for p in config.unset] == problems(
        tmp_path, GOOD, registry, {}
    )
    # ...but everything else is still checked: a dry run is for trying a config out.
    broken = write(tmp_path, GOOD.replace("region: mumbai", "region: moon"))
    with pytest.raises(ConfigError) as info:
        load_config(broken, registry=registry, dry_run=True, environ={})
    assert [p.path for p in info.value.problems] == ["accounts.main.region"]


def test_a_notifier_that_may_send_refuses_a_config_loaded_without_secrets(tmp_path, registry):
    config = load_config(write(tmp_path, GOOD), registry=registry, dry_run=True, environ={})
    with pytest.raises(ConfigError) as info:
        Notifier(config, registry)
    assert [p.path for p in info.value.problems] == ["accounts.main.sid", "accounts.main.token"]
    assert "fine for this run" not in str(info.value)
    with Notifier(config, registry, dry_run=True) as kit:
        report = kit.notify("db.down", data={"host": "db1"})
        assert report.ok and report.dry_run
        for what in (kit.worker, kit.reconcile, lambda: kit.client("main")):
            with pytest.raises(ConfigError, match="NK_TOKEN not set"):
                what()


def test_a_dry_run_reads_unset_values_it_cannot_show_as_their_default(tmp_path, registry, env):
    text = GOOD.replace("region: mumbai", "region: ${NK_REGION}\n    timeout: ${NK_TIMEOUT}")
    text = text.replace('caller_id: "08088919888"', "caller_id: ${NK_EXOPHONE}")
    env = {k: v for k, v in env.items() if k != "NK_TOKEN"}
    config = load_config(write(tmp_path, text), registry=registry, dry_run=True, environ=env)
    settings = config.accounts["main"].settings
    assert (settings["region"], settings["timeout"]) == ("singapore", None)  # their defaults
    assert config.channels["call"].settings["caller_id"] == {"default": "<unset:${NK_EXOPHONE}>"}
    assert [w.path for w in config.warnings] == [
        "accounts.main.token",
        "accounts.main.region",
        "accounts.main.timeout",
        "channels.call.caller_id",
    ]
    # A required value that cannot be shown unset (a name) still needs its variable.
    named = GOOD.replace(
        "    account: main\n    caller_id", "    account: ${NK_ACCOUNT}\n    caller_id"
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, named), registry=registry, dry_run=True, environ=env)
    assert [p.path for p in info.value.problems] == ["channels.call.account"]


def test_a_dry_run_does_not_need_a_missing_secret_key(tmp_path, registry, env):
    text = GOOD.replace("    token: ${NK_TOKEN}\n", "")
    config = load_config(write(tmp_path, text), registry=registry, dry_run=True, environ=env)
    assert config.accounts["main"].settings["token"] == "<unset>"
    [warning] = config.warnings
    assert (warning.line, warning.path) == (7, "accounts.main.token")
    assert warning.message.startswith("missing required key 'token' (a secret: set it as token: ")
    found = problems(tmp_path, text, registry, env)
    assert found == [
        "7: accounts.main.token: missing required key 'token' (a secret: set it as token: "
        "${ENV_VAR}, or run with --dry-run (sends nothing) or --sandbox (the local simulator))"
    ]
    assert [str(p).removeprefix(f"{tmp_path / 'notifykit.yaml'}:") for p in config.unset] == found


def test_an_empty_secret_says_how_to_run_without_it(tmp_path, registry):
    found = problems(tmp_path, GOOD, registry, {"NK_SID": "ACxyz", "NK_TOKEN": ""})
    assert found == [
        "9: accounts.main.token: is empty after ${...} substitution: set it, or run with "
        "--dry-run (sends nothing) or --sandbox (the local simulator)"
    ]
    # CI often has the variable set but empty (a missing secret): a dry run goes on.
    config = load_config(
        write(tmp_path, GOOD),
        registry=registry,
        dry_run=True,
        environ={"NK_SID": "ACxyz", "NK_TOKEN": ""},
    )
    assert config.accounts["main"].settings["token"] == "<unset:${NK_TOKEN}>"
    [warning] = config.warnings
    assert warning.message == f"is empty after ${{...}} substitution (NK_TOKEN): {FINE}"


def test_the_example_config_checks_in_a_dry_run_without_secrets():
    root = Path(__file__).resolve().parents[2]
    registry = Registry.from_manager(get_plugin_manager(disabled=[]))
    config = load_config(root / "config.example.yaml", registry=registry, dry_run=True, environ={})
    assert [w.path for w in config.warnings] == [
        "accounts.exotel-main.sid",
        "accounts.exotel-main.token",
    ]
    assert all(w.message.endswith(FINE) for w in config.warnings)


# -- templates at load time ---------------------------------------------------------------------


def test_a_template_too_deep_to_compile_is_a_config_problem(tmp_path, registry, env):
    path = write(tmp_path, GOOD)
    (tmp_path / "tpl" / "db_down.sms.j2").write_text("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry, environ=env)
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (37, "events.db.down.template")
    assert "nests too deeply to compile" in problem.message


def test_loading_evaluates_no_template_expression(tmp_path, registry, env):
    # Jinja's constant folding would compute this while compiling, i.e. while loading.
    path = write(tmp_path, GOOD)
    (tmp_path / "tpl" / "db_down.sms.j2").write_text("{{ 'a'|center(10**6) }}{{ 9**(9**9) }}")
    outcome = load_in_child(path)
    # The child has no environment: the only problems are the two unset variables.
    assert outcome["error"] == "ConfigError"
    assert all("NK_" in msg for _line, msg in outcome["problems"])  # type: ignore[union-attr]
    assert float(outcome["seconds"]) < 2.0, outcome  # type: ignore[arg-type]
