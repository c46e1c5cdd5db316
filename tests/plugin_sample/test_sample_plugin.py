"""A third-party plugin, installed the real way (a distribution on sys.path with a ``notifykit``
entry point), declares typed settings, a validator of its own and a channel: it loads like the
Exotel plugin, its keys are checked like the core's (every problem at once, file, line, key path,
secrets never shown), and its channel gets a typed settings object and posts over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest

from notifykit import Notifier, hookimpl
from notifykit.config.loader import load_config
from notifykit.errors import ConfigError, PluginError
from notifykit.plugins import Registry, get_plugin_manager

SITE = Path(__file__).parent / "site"
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "chat-s3cr3t-token"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sample distribution, installed: found by importlib.metadata on sys.path."""
    monkeypatch.syspath_prepend(str(SITE))
    yield
    for name in [m for m in sys.modules if m.startswith("notifykit_sample_chat")]:
        del sys.modules[name]


class Webhook:
    """A chat room's incoming webhook on 127.0.0.1: records every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.posts.append((dict(self.headers), json.loads(body)))
                answer = json.dumps({"id": f"msg-{len(webhook.posts)}"}).encode()
                self.send_response(webhook.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ops"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "disk.sms.j2").write_text("disk {{ host }} full", encoding="utf-8")
    path = tmp_path / "notifykit.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD = """\
channels:
  ops:
    type: chat
    webhook: {url}
    token: ${{CHAT_TOKEN}}
    room: "#ops"
    mention: here
recipients:
  ravi: {{addresses: {{chat: U123}}}}
templates:
  disk: {{chat_format: card}}
events:
  disk.full: {{template: disk, channels: [ops], to: [ravi]}}
"""


def test_the_plugin_loads_through_its_entry_point_like_the_exotel_plugin(installed):
    registry = Registry.from_manager(get_plugin_manager(disabled=[]))
    assert registry.owners[("channel_type", "chat")] == "sample_chat"
    info = {i.name: i for i in registry.plugin_infos()}["sample_chat"]
    assert (info.package, info.version) == ("notifykit-sample-chat", "0.1.0")
    assert info.hooks == (
        "register_channel_types",
        "register_commands",
        "register_routes",
        "register_template_settings",
    )
    assert "exotel-sms" in registry.channel_types  # loaded beside it, the same way


def test_its_channel_gets_typed_settings_and_posts_over_http(installed, tmp_path, webhook):
    from notifykit_sample_chat.settings import ChatSettings

    path = config(tmp_path, GOOD.format(url=webhook.url))
    with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}) as kit:
        settings = kit.config.channels["ops"].settings
        assert isinstance(settings, ChatSettings)
        assert (settings.room, settings.timeout, settings.urgent_from) == ("#ops", 10.0, "error")
        report = kit.notify("disk.full", severity="critical", data={"host": "db1"})
        assert report.ok, report.summary()
        calm = kit.notify("disk.full", severity="info", data={"host": "db2"})
        assert calm.ok, calm.summary()
    [(headers, urgent), (_, quiet)] = webhook.posts
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert urgent == {
        "room": "#ops",
        "to": "U123",
        "text": "disk db1 full",
        "urgent": True,
        "mention": "here",
        "format": "card",
    }
    assert (quiet["urgent"], quiet["mention"], quiet["text"]) == (False, "nobody", "disk db2 full")


def test_a_refusing_webhook_is_a_failed_delivery(installed, tmp_path, webhook):
    webhook.status = 403
    path = config(tmp_path, GOOD.format(url=webhook.url))
    with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}) as kit:
        report = kit.notify("disk.full", data={"host": "db1"})
    [delivery] = report.deliveries
    assert (delivery.state.value, delivery.error) == ("failed", "the webhook answered 403")


def test_its_keys_are_checked_like_the_cores_every_problem_at_once(installed, tmp_path):
    text = (
        GOOD.format(url="ftp://chat.example.com/hook")
        .replace('room: "#ops"', 'room: "Ops Room"\n    timout: 5s')
        .replace("mention: here", "mention: everyone")
        .replace("chat_format: card", "chat_format: fancy")
        .replace("    token: ${{CHAT_TOKEN}}\n".format(), "")
    )
    path = config(tmp_path, text)
    registry = Registry.from_manager(get_plugin_manager(disabled=[]))
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry, environ={"CHAT_TOKEN": TOKEN})
    assert [str(p).removeprefix(f"{path}:") for p in info.value.problems] == [
        "3: channels.ops.token: missing required key 'token' (a secret: set it as token: "
        "${ENV_VAR}, or run with --dry-run (sends nothing) or --sandbox (the local simulator))",
        "4: channels.ops.webhook: 'ftp://chat.example.com/hook' is not an http(s) URL",
        "5: channels.ops.room: 'Ops Room' is not a room: write # and lowercase letters, digits "
        "or dashes (#ops)",
        # the plugin's keys and the core's fallback keys every channel has (failover.md)
        "6: channels.ops.timout: unknown key 'timout' (did you mean 'timeout'?); allowed: "
        "fallback, fallback_on_unknown, mention, room, timeout, token, urgent_from, webhook",
        "7: channels.ops.mention: 'everyone' is not one of nobody, here, all",
        "11: templates.disk.chat_format: 'fancy' is not one of plain, card",
    ]


def test_its_validator_takes_a_python_value(installed):
    from notifykit_sample_chat.settings import room_problems

    assert list(room_problems("#ops")) == []
    assert len(list(room_problems("#" + "x" * 40))) == 1
    assert len(list(room_problems("Ops " + "x" * 40))) == 2


def test_its_secret_is_never_shown(installed, tmp_path, webhook):
    text = GOOD.format(url=webhook.url).replace('room: "#ops"', "room: ${CHAT_TOKEN}")
    path = config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN})
    assert TOKEN not in str(info.value)
    assert "6: channels.ops.room: '***' is not a room" in str(info.value)
    path = config(tmp_path, GOOD.format(url=webhook.url))
    with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}) as kit:
        assert TOKEN not in repr(kit.config.channels["ops"].settings)
        assert TOKEN in kit.config.secrets


def test_its_route_is_served_by_the_status_server_over_http(installed, tmp_path, webhook):
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import requests

    from notifykit.server import create_app

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    path = config(tmp_path, GOOD.format(url=webhook.url))
    with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}) as kit:
        server = make_server("127.0.0.1", 0, create_app(kit), handler_class=Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}"
            answer = requests.get(f"{url}/chat/rooms", timeout=10)
            assert (answer.status_code, answer.text) == (200, "#ops\n")
            assert answer.headers["Content-Type"].startswith("text/plain")
            assert requests.post(f"{url}/chat/rooms", timeout=10).status_code == 405
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # ours first
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def notifykit(
    *args: str, cwd: Path, sites: tuple[Path, ...] = (), **environ: str
) -> subprocess.CompletedProcess[str]:
    """``notifykit ARGS`` as a real process, the sample distribution (and ``sites``) on its
    path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    path = [
        *map(str, sites),
        str(SITE),
        str(ROOT),
        str(ROOT / "plugins"),
        env.get("PYTHONPATH", ""),
    ]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "notifykit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_its_command_runs_as_notifykit_chat_rooms_with_the_global_options(tmp_path, webhook):
    path = config(tmp_path, GOOD.format(url=webhook.url))
    listed = notifykit("--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "chat-rooms" in listed.stdout
    # the global options follow a plugin's command as they follow a built-in
    done = notifykit("chat-rooms", "--prefix", "#o", "-c", str(path), cwd=tmp_path,
                     CHAT_TOKEN=TOKEN)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "#ops (ops)\n", "")
    assert notifykit("chat-rooms", "--prefix", "#x", "-c", str(path), cwd=tmp_path,
                     CHAT_TOKEN=TOKEN).stdout == ""  # fmt: skip
    helped = notifykit("chat-rooms", "--help", cwd=tmp_path)
    assert "List the rooms the config's chat channels post to" in helped.stdout
    assert "--config" in helped.stdout  # added like a built-in's
    listing = notifykit("plugins", cwd=tmp_path)
    assert "  command chat-rooms: List the rooms the config's chat channels post to" in (
        listing.stdout
    )
    # blocked, the plugin's command is gone like the rest of it
    blocked = notifykit("chat-rooms", cwd=tmp_path, NOTIFYKIT_DISABLE_PLUGINS="sample_chat")
    assert blocked.returncode == 3
    assert "No such command 'chat-rooms'" in blocked.stderr


class _Clash:
    """A plugin defining a command named like the sample plugin's, and one like a built-in."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        cli.add_command(click.Command(self.name, callback=lambda: None))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("notify", "command 'notify' is defined twice, by notifykit (a built-in command) and by "
                   "plugin 'clash'"),
        ("chat-rooms", "command 'chat-rooms' is defined twice, by plugin 'sample_chat' and by "
                       "plugin 'clash'"),
    ],
)  # fmt: skip
def test_a_command_named_like_another_is_a_plugin_error_naming_both(installed, name, message):
    from notifykit.cli.app import COMMANDS
    from notifykit.cli.common import collect_commands

    pm = get_plugin_manager(disabled=[])
    pm.register(_Clash(name), "clash")
    with pytest.raises(PluginError) as info:
        collect_commands(pm, builtins={str(c.name): c for c in COMMANDS})
    assert str(info.value).startswith(message)


def test_its_status_parser_reads_a_read_receipt_posted_to_the_status_server(
    installed, tmp_path, webhook
):
    """The channel's parse_status, over real HTTP: the post carries the callback URL, the chat
    (here the test) POSTs its read receipt there, and the ledger's delivery becomes delivered."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import requests

    from notifykit.channels import StatusParser
    from notifykit.server import create_app

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, lambda environ, start: [], handler_class=Quiet)
    text = GOOD.format(url=webhook.url) + textwrap.dedent(
        f"""\
        store: {tmp_path / "ledger.db"}
        server: {{public_url: "http://127.0.0.1:{server.server_port}"}}
        """
    )
    path = config(tmp_path, text)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}) as kit:
            assert isinstance(kit.channels["ops"], StatusParser)
            server.set_app(create_app(kit))
            thread.start()
            report = kit.notify("disk.full", data={"host": "db1"})
            [delivery] = report.deliveries
            assert (delivery.state.value, delivery.provider_id) == ("sent", "msg-1")
            [(_, posted)] = webhook.posts
            callback = posted["callback"]
            assert callback.startswith(f"http://127.0.0.1:{server.server_port}/status/")
            bad = requests.post(callback, data=b"read", timeout=10,
                                headers={"Content-Type": "text/plain"})  # fmt: skip
            assert bad.status_code == 400  # its ValueError: not a receipt
            typing = requests.post(callback, json={"id": "msg-1", "status": "typing"}, timeout=10)
            assert typing.status_code == 200
            assert kit.report(report.id).deliveries[0].state.value == "sent"
            read = requests.post(callback, json={"id": "msg-1", "status": "read"}, timeout=10)
            assert read.status_code == 200
            [after] = kit.report(report.id).deliveries
            assert (after.state.value, after.provider_status) == ("delivered", "read")
    finally:
        server.shutdown()
        server.server_close()
        if thread.is_alive():
            thread.join(timeout=10)


def test_it_describes_its_deliveries_for_routes_test(installed, tmp_path, webhook):
    path = config(tmp_path, GOOD.format(url=webhook.url))
    with Notifier.from_config(path, environ={"CHAT_TOKEN": TOKEN}, dry_run=True) as kit:
        urgent = kit.explain("disk.full", severity="critical")
        calm = kit.explain("disk.full", severity="info")
    assert [(d["from"], d["priority"], d["room"]) for d in urgent.deliveries] == [
        (None, "urgent", "#ops")
    ]
    assert [d["priority"] for d in calm.deliveries] == [None]


class _Misfit:
    """A channel whose optional methods do not fit their capability."""

    def __init__(self, settings: Any, context: Any) -> None:
        pass

    def prepare(self, message: Any) -> Any:
        return message

    def send(self, message: Any, recipients: Any) -> Any:
        return []

    def parse_status(self, body: bytes) -> Any:  # content_type forgotten
        return []


class _MisfitPlugin:
    @hookimpl
    def register_channel_types(self, register: Any) -> None:
        from notifykit.channels import ChannelType

        register(ChannelType(name="misfit", factory=_Misfit, address="chat"))


def test_a_capability_with_a_wrong_signature_is_refused_when_the_channel_is_built(tmp_path):
    path = config(
        tmp_path,
        """\
        channels: {odd: {type: misfit}}
        recipients: {ravi: {addresses: {chat: U1}}}
        events: {disk.full: {template: disk, channels: [odd], to: [ravi]}}
        """,
    )
    pm = get_plugin_manager(load_entrypoints=False, plugins=[_MisfitPlugin()])
    with pytest.raises(PluginError) as info:
        Notifier.from_config(path, plugin_manager=pm)
    assert str(info.value).startswith(
        "channel 'odd' (type 'misfit'): parse_status cannot be called as "
        "parse_status(body, content_type), as StatusParser declares"
    )


def test_a_plugin_that_cannot_be_imported_leaves_the_built_in_commands_usable(tmp_path):
    """--help still lists the built-ins (and says why the plugins' commands are missing); a
    built-in that needs no plugin runs; a name only a plugin could define fails loudly."""
    site = tmp_path / "site"
    (site / "notifykit_broken").mkdir(parents=True)
    (site / "notifykit_broken" / "__init__.py").write_text("raise ImportError('no such thing')\n")
    dist = site / "notifykit_broken-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: notifykit-broken\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text("[notifykit]\nbroken = notifykit_broken\n")
    listed = notifykit("--help", cwd=tmp_path, sites=(site,))
    assert listed.returncode == 0, listed.stderr
    assert "init" in listed.stdout and "chat-rooms" not in listed.stdout
    assert "warning: plugin commands not listed: could not load a notifykit plugin" in listed.stderr
    made = notifykit("init", "here", cwd=tmp_path, sites=(site,))
    assert made.returncode == 0, made.stderr
    other = notifykit("chat-rooms", cwd=tmp_path, sites=(site,))
    assert other.returncode == 3
    assert other.stderr.startswith("error: PluginError: could not load a notifykit plugin")
    assert "no such thing" in other.stderr
