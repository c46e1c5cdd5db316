"""The ``notifykit_notifier`` fixture, used as an application's own test suite would use it.

A separate project in a temporary directory (its own ``pyproject.toml``, no conftest, its own
``notifykit.yaml``) whose tests call the module-level ``notifykit.notify()``, run by a real
``pytest`` process that finds the fixture through the ``pytest11`` entry point. Without the
fixture's reset, the second test would reuse the Notifier bound to the first test's simulator
(stopped by then) and time out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from notifykit_exotel.pytest_plugin import minimal_config

APP_TESTS = '''
    """The application's tests: the code under test calls notifykit.notify() itself."""

    import notifykit
    import pytest


    def page_oncall(host):
        """The application code: it knows nothing of simulators or test configs."""
        return notifykit.notify("db.down", data={"host": host})


    def test_first_alert(notifykit_notifier, exotel_simulator):
        report = page_oncall("db1")
        assert report.ok, report.summary()
        [request] = exotel_simulator.requests
        assert request.field("To") == "+919876543210" and "db1" in request.field("Body")


    def test_second_alert_reaches_its_own_simulator(notifykit_notifier, exotel_simulator):
        report = page_oncall("db2")
        assert report.ok, report.summary()
        [request] = exotel_simulator.requests  # this test's simulator, and only this send
        assert "db2" in request.field("Body")
        assert notifykit.get_notifier() is notifykit_notifier


    @pytest.mark.notifykit_config(None)
    def test_the_minimal_built_in_config(notifykit_notifier, exotel_simulator):
        report = notifykit.notify("anything", data={"message": "hello"})
        assert report.ok and report.deliveries[0].recipient == "tester"
        assert exotel_simulator.requests[0].field("From") == "NKTEST"


    def test_reset_is_public():
        notifykit.reset()
        # No default left: notify() reads ./notifykit.yaml again, whose account (on purpose)
        # has no credentials outside the fixture.
        with pytest.raises(notifykit.ConfigError, match="missing required key 'sid'"):
            notifykit.notify("db.down")
'''

CONFTEST_FREE_CONFIG = """
    import pytest


    @pytest.fixture
    def notifykit_config():
        return "notifykit.yaml"
"""


def test_an_application_project_runs_two_tests_in_a_row(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "app"
            version = "0"

            [tool.pytest.ini_options]
            testpaths = ["tests"]
            addopts = ["--strict-markers"]
            filterwarnings = ["error"]
            """
        )
    )
    config = minimal_config()
    config["templates"] = {"directory": "templates"}
    config["events"] = {"db.down": {"template": "db_down", "severity": "critical"}}
    (project / "notifykit.yaml").write_text(yaml.safe_dump(config))
    (project / "templates").mkdir()
    (project / "templates" / "db_down.sms.j2").write_text("DB {{ host }} is down")
    (project / "tests" / "test_app.py").write_text(
        textwrap.dedent(CONFTEST_FREE_CONFIG) + textwrap.dedent(APP_TESTS)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EXOTEL_", "NOTIFYKIT_", "PYTEST_")) and k != "PYTHONPATH"
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v"],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "4 passed" in output
    assert f"rootdir: {project}" in output  # the application's project, not notifykit's
