"""The output layer: a command returns a Result (what --json prints, the text printed otherwise,
its exit code) and the layer prints one or the other, while the command's context is open."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from notifykit.cli.common import Group, command, group
from notifykit.cli.output import Line, Result, error, render


def _never() -> Iterator[str]:
    raise AssertionError("the text was built under --json")
    yield ""  # pragma: no cover


def test_json_prints_the_data_alone_and_never_builds_the_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = Result({"ok": False, "name": "café"}, _never(), 3, [Line("after")])
    assert render(result, as_json=True) == 3
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "name": "café"}
    assert out == '{\n  "ok": false,\n  "name": "café"\n}\n'
    assert err == "after\n"  # printed in both forms


def test_text_puts_lines_on_stdout_and_line_objects_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = Result({"x": 1}, ["one", Line("on stderr"), "two", error("bad")], 1, [Line("last")])
    assert render(result, as_json=False) == 1
    out, err = capsys.readouterr()
    assert out == "one\ntwo\n"
    assert err == "on stderr\nerror: bad\nlast\n"


def test_a_command_result_is_printed_before_its_context_closes() -> None:
    # A command's Notifier is closed with its context: what it returns must be printed first
    # (rendering in the root group's result callback would run after a subgroup's command closed).
    @group()
    def top() -> None:
        pass

    @group()
    def sub() -> None:
        pass

    @command()
    def leaf() -> Result:
        click.get_current_context().call_on_close(lambda: click.echo("closed"))
        return Result({}, ["result"], 2)

    top.add_command(sub)
    sub.add_command(leaf)

    @sub.command("nested")
    def nested() -> Result:
        click.get_current_context().call_on_close(lambda: click.echo("closed"))
        return Result({}, ["nested result"])

    assert isinstance(sub, Group) and isinstance(top.commands["sub"], Group)
    ran = CliRunner().invoke(top, ["sub", "leaf"], standalone_mode=False)
    assert (ran.output, ran.return_value) == ("result\nclosed\n", 2)
    ran = CliRunner().invoke(top, ["sub", "nested"], standalone_mode=False)
    assert (ran.output, ran.return_value) == ("nested result\nclosed\n", 0)
