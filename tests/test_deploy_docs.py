"""docs/deploy.md's deployments are the ones this code runs (issue 19: "docs/deploy.md shows a
systemd and a container deployment with the reverse proxy, metrics and the console"): every
``notifykit`` command line in the systemd units, the Dockerfile and the compose file parses with
the real CLI; Prometheus scrapes the ports ``serve`` and the worker listen on; the proxies
publish what providers, Alertmanager, ack links, heartbeats and the console need, and never
``/metrics``."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from notifykit.cli import cli
from notifykit.config.delivery import ServerSettings

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
#: the paths a published status server must forward (under public_url)
PUBLIC = ("/status/", "/ack/", "/alertmanager", "/heartbeat/", "/console/")


_NAMED = re.compile(
    r"# (/etc/systemd/system/[\w@.-]+|Dockerfile|compose\.yaml|Caddyfile|prometheus\.yml|nginx"
    r"|Caddy)(?::.*)?$"
)


def _files() -> dict[str, str]:
    """Each file shown in a code block, by the name its first comment line gives (a block
    showing several files is split at each ``# <name>`` line; a name shown twice is its
    first)."""
    text = DEPLOY.read_text(encoding="utf-8")
    files: dict[str, str] = {}
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        name, lines = None, []
        for line in block.splitlines():
            start = _NAMED.match(line)
            if start:
                if name is not None:
                    files.setdefault(name, "\n".join(lines))
                name, lines = start.group(1), []
                continue
            lines.append(line)
        if name is not None:
            files.setdefault(name, "\n".join(lines))
    return files


FILES = _files()


def _parses(argv: list[str]) -> None:
    """``notifykit ARGV`` parses with the real CLI (its options and arguments; nothing runs)."""
    assert argv[0].endswith("notifykit"), argv
    name, *rest = argv[1:]
    ctx = click.Context(cli, info_name="notifykit")
    command = cli.get_command(ctx, name)
    assert command is not None, f"no command {name!r}"
    try:
        command.make_context(name, rest, parent=ctx)
    except click.UsageError as err:
        pytest.fail(f"{shlex.join(argv)}: {err.format_message()}")


def test_the_systemd_and_container_files_are_all_shown() -> None:
    shown = set(FILES)
    for name in (
        "/etc/systemd/system/notifykit-serve.service",
        "/etc/systemd/system/notifykit-worker.service",
        "Dockerfile",
        "compose.yaml",
        "Caddyfile",
        "prometheus.yml",
        "nginx",
        "Caddy",
    ):
        assert name in shown, f"docs/deploy.md shows no {name}"


@pytest.mark.parametrize("unit", ["notifykit-serve.service", "notifykit-worker.service"])
def test_the_systemd_units_run_commands_the_cli_takes(unit: str) -> None:
    text = FILES[f"/etc/systemd/system/{unit}"]
    [command] = re.findall(r"^ExecStart=(.*)$", text, re.M)
    _parses(shlex.split(command))
    assert "Restart=always" in text and "TimeoutStopSec=" in text
    if unit == "notifykit-serve.service":
        [limit] = re.findall(r"^LimitNOFILE=(\d+)$", text, re.M)
        # room for the default connection limit and what the server keeps for itself
        assert int(limit) >= ServerSettings().connection_limit + 64


def test_the_container_commands_parse_and_prometheus_scrapes_where_they_listen() -> None:
    [cmd] = re.findall(r"^CMD (.*)$", FILES["Dockerfile"], re.M)
    serve = json.loads(cmd)
    _parses(serve)
    assert serve[1] == "serve" and "--host" in serve  # reachable from the proxy's container
    compose = yaml.safe_load(FILES["compose.yaml"])
    services = compose["services"]
    assert {"serve", "worker", "caddy", "prometheus"} <= set(services)
    worker = services["worker"]["command"]
    _parses(worker)
    metrics_port = worker[worker.index("--metrics-port") + 1].rsplit(":", 1)[1]
    scrape = yaml.safe_load(FILES["prometheus.yml"])["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert targets["notifykit-serve"] == [f"serve:{ServerSettings().port}"]
    assert targets["notifykit-worker"] == [f"worker:{metrics_port}"]


def test_the_container_proxy_publishes_what_is_needed_and_never_metrics() -> None:
    caddy = FILES["Caddyfile"]
    [published] = re.findall(r"@public path (.*)$", caddy, re.M)
    paths = published.split()
    for needed in PUBLIC:
        assert any(
            p.removeprefix("/notifykit").rstrip("*") in (needed, needed.rstrip("/")) for p in paths
        ), f"the Caddyfile does not publish {needed}"
    assert not any("metrics" in p or "readyz" in p for p in paths)
    assert "respond 404" in caddy


@pytest.mark.parametrize("proxy", ["nginx", "Caddy"])
def test_the_one_host_proxies_keep_metrics_off(proxy: str) -> None:
    text = FILES[proxy]
    # a block of its own answering 404 (Caddy's handle blocks: the longer path is tried first)
    assert re.search(r"/notifykit/metrics\*? \{\s*(return|respond) 404;?\s*\}", text), proxy
    assert "8025" in text  # to serve's default port


def test_the_console_is_shown_in_both_deployments() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    systemd = text[text.index("### systemd") : text.index("### Health checks")]
    assert "https://alerts.example.com/notifykit/console/" in systemd
    assert "console:" in text[text.index("### In containers") : text.index("### The reverse")]
