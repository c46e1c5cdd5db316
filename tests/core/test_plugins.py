"""The plugin manager factory: entry points, built-ins, blocking, check_pending, the registry."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from notifykit import Notifier, hookimpl
from notifykit.errors import PluginError
from notifykit.plugins import Registry, get_plugin_manager

PLUGIN_SOURCE = """
from notifykit import hookimpl
from notifykit.channels import ChannelType, DeliveryResult
from notifykit.config.settings import Settings, setting

SENT = []


class ShoutSettings(Settings):
    suffix: str = setting(default="!")


class Shout:
    def __init__(self, settings, context):
        self.suffix = settings["suffix"]

    def prepare(self, message):
        return message.with_info(shouted=True)

    def send(self, message, recipients):
        SENT.append((message.text.upper() + self.suffix, [r.phone for r in recipients]))
        return [DeliveryResult.sent(r, provider_id="shout-1") for r in recipients]


@hookimpl
def register_channel_types(register):
    register(ChannelType("shout", factory=Shout, settings=ShoutSettings))


@hookimpl
def register_template_filters(register):
    register("reverse", lambda text: text[::-1])


@hookimpl
def register_template_globals(register):
    register("team", "SRE")
"""


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch) -> str:
    """An installed distribution ``nk-fake-plugin`` 1.2.3 with a ``notifykit`` entry point
    ``fake``, discovered the real way: importlib.metadata scanning sys.path."""
    module = f"nk_fake_plugin_{tmp_path.name.replace('-', '_')}"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(PLUGIN_SOURCE)
    dist = site / "nk_fake_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nk-fake-plugin\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[notifykit]\nfake = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    yield module
    sys.modules.pop(module, None)


def test_entry_point_plugin_is_loaded_and_used_end_to_end(fake_distribution, tmp_path, capsys):
    pm = get_plugin_manager(disabled=[])
    assert pm.get_plugin("fake") is not None
    registry = Registry.from_manager(pm)
    assert registry.owners[("channel_type", "shout")] == "fake"
    info = {i.name: i for i in registry.plugin_infos()}["fake"]
    assert (info.package, info.version) == ("nk-fake-plugin", "1.2.3")
    assert info.channel_types == ("shout",)
    assert info.hooks == (
        "register_channel_types",
        "register_template_filters",
        "register_template_globals",
    )

    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "hi.sms.j2").write_text("hi {{ name | reverse }} from {{ team }}")
    config = {
        "channels": {"loud": {"type": "shout"}},
        "templates": {"directory": str(tmp_path / "tpl")},
    }
    with Notifier.from_config(config, plugin_manager=pm) as kit:
        report = kit.notify(
            "e", to="+919876543210", channels="loud", template="hi", data={"name": "abc"}
        )
    assert report.ok and report.deliveries[0].info["shouted"] is True
    sent = sys.modules[fake_distribution].SENT
    assert sent == [("HI CBA FROM SRE!", ["+919876543210"])]


def test_the_exotel_plugin_comes_from_its_entry_point():
    pm = get_plugin_manager(disabled=[])
    registry = Registry.from_manager(pm)
    assert {"exotel-sms", "exotel-call", "exotel-flow", "console"} <= set(registry.channel_types)
    assert registry.owners[("channel_type", "exotel-sms")] == "exotel"
    assert registry.owners[("provider", "exotel")] == "exotel"
    assert [name for name, _ in pm.list_name_plugin()][-2:] == [
        "console",
        "india",
    ]  # built-ins after
    assert registry.owners[("template_setting", "dlt_pattern")] == "india"  # any provider's


def test_disable_plugins_from_the_environment(fake_distribution, monkeypatch):
    monkeypatch.setenv("NOTIFYKIT_DISABLE_PLUGINS", " fake , console")
    pm = get_plugin_manager()
    assert pm.is_blocked("fake") and pm.is_blocked("console")
    registry = Registry.from_manager(pm)
    assert "shout" not in registry.channel_types and "console" not in registry.channel_types
    assert "exotel-sms" in registry.channel_types
    assert sorted(registry.blocked()) == ["console", "fake"]
    assert fake_distribution not in sys.modules  # blocked before loading: never imported


def test_disabled_argument_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("NOTIFYKIT_DISABLE_PLUGINS", "exotel")
    assert get_plugin_manager(disabled=[]).get_plugin("exotel") is not None
    assert get_plugin_manager().get_plugin("exotel") is None


def test_a_disabled_plugin_makes_its_channel_types_unknown_in_config(monkeypatch):
    from notifykit.errors import ConfigError

    monkeypatch.setenv("NOTIFYKIT_DISABLE_PLUGINS", "exotel")
    with pytest.raises(ConfigError, match="disabled by NOTIFYKIT_DISABLE_PLUGINS"):
        Notifier.from_config({"channels": {"sms": {"type": "exotel-sms"}}})


def test_misspelled_hookimpl_fails_loudly():
    class Typo:
        @hookimpl
        def register_channel_type(self, register):  # missing "s"
            pass

    with pytest.raises(PluginError, match="register_channel_type"):
        get_plugin_manager(load_entrypoints=False, plugins=[Typo()])


def test_hookimpl_with_unknown_argument_fails_loudly():
    module = types.ModuleType("bad_args")

    @hookimpl
    def after_delivery(delivery, notification, extra):
        pass

    module.after_delivery = after_delivery  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="extra"):
        get_plugin_manager(load_entrypoints=False, plugins=[module])


def test_broken_entry_point_is_a_plugin_error(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "nk_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nk-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[notifykit]\nbroken = nk_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="nk_module_that_does_not_exist"):
        get_plugin_manager(disabled=[])
    get_plugin_manager(disabled=["broken"])  # and it can be blocked by name


def test_duplicate_channel_type_names_both_plugins():
    from notifykit.channels import ChannelType

    class Again:
        @hookimpl
        def register_channel_types(self, register):
            register(ChannelType("console", factory=lambda s, c: None))  # type: ignore[arg-type,return-value]

    pm = get_plugin_manager(load_entrypoints=False, plugins=[Again()])
    with pytest.raises(PluginError, match="'console' is registered twice, by plugin 'console'"):
        Registry.from_manager(pm)


def test_registering_the_wrong_thing_is_a_plugin_error():
    class Wrong:
        @hookimpl
        def register_channel_types(self, register):
            register("exotel-sms")

    pm = get_plugin_manager(load_entrypoints=False, plugins=[Wrong()])
    with pytest.raises(PluginError, match="not a ChannelType"):
        Registry.from_manager(pm)


def test_a_plugin_whose_register_hook_raises():
    class Crash:
        @hookimpl
        def register_providers(self, register):
            raise RuntimeError("boom")

    pm = get_plugin_manager(load_entrypoints=False, plugins=[Crash()])
    with pytest.raises(PluginError, match="failed in register_providers: RuntimeError: boom"):
        Registry.from_manager(pm)


def test_plugin_template_dirs_come_after_the_config_directory(tmp_path):
    plugin_dir = tmp_path / "plugin_templates"
    plugin_dir.mkdir()
    (plugin_dir / "p.sms.j2").write_text("from plugin")
    (plugin_dir / "shared.sms.j2").write_text("plugin version")
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "shared.sms.j2").write_text("user version")

    class Templates:
        @hookimpl
        def register_template_dirs(self, register):
            register(plugin_dir)

    pm = get_plugin_manager(load_entrypoints=False, plugins=[Templates()])
    config = {"templates": {"directory": str(user_dir)}}
    with Notifier.from_config(config, plugin_manager=pm) as kit:
        engine = kit.config.template_engine
        assert engine.render("p.sms", {}) == "from plugin"
        assert engine.render("shared.sms", {}) == "user version"
        assert engine.exists("default.sms")  # notifykit's defaults last


def test_each_manager_is_fresh():
    a = get_plugin_manager(load_entrypoints=False)
    b = get_plugin_manager(load_entrypoints=False)
    assert a is not b
    a.set_blocked("console")
    assert b.get_plugin("console") is not None


def test_docs_source_example_plugin_file_exists():
    root = Path(__file__).resolve().parents[2]
    assert "register_channel_types" in (root / "docs" / "plugins.md").read_text()


def test_plugin_source_is_valid_python():
    compile(textwrap.dedent(PLUGIN_SOURCE), "<plugin>", "exec")
