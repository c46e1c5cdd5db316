"""No hang at interpreter exit, whatever the caller forgets to close or stop.

Each form runs as a script in a fresh interpreter with a deadline: a sandbox Notifier never
closed, ``notifykit.configure(..., sandbox=True)`` then ``notifykit.notify()``, a plain Notifier
against a simulator the script never stops, a worker left running in a thread (daemon or not),
and a pytest run of the plugin's fixtures with a forgotten sandbox. Every script prints ``done``
as its last statement, so a timeout after it is a hang at exit, not a slow script.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from notifykit_exotel.simulator import Fault
from tests.delivery.conftest import TOKEN, write_config

ROOT = Path(__file__).resolve().parents[2]
#: Start-up and the work of each script take a second or two; a hang never ends.
DEADLINE = 30.0

CONFIG = """
import json, time, urllib.request, yaml

def wait_for_a_request(admin_url):
    # The test's simulator, in the test's process: ask its admin API.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with urllib.request.urlopen(admin_url + "/requests") as answer:
            if json.load(answer)["count"]:
                return
        time.sleep(0.01)
    raise SystemExit("no request reached the simulator")

config = {
    "accounts": {"main": {"provider": "exotel", "sid": "ACsim", "token": "sim-token"}},
    "channels": {
        "sms": {"type": "exotel-sms", "account": "main", "senders": {"default": {"from": "NKALRT"}}}
    },
    "recipients": {"p0": {"phone": "+919876543210"}},
    "defaults": {"channels": ["sms"], "to": ["p0"]},
}
with open("sandbox.yaml", "w") as f:
    yaml.safe_dump(config, f)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env["NK_LEDGER_TOKEN"] = TOKEN
    env.pop("NOTIFYKIT_CONFIG", None)
    return env


def run_script(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` (after writing the sandbox config) in a fresh interpreter; fail if it does
    not exit within :data:`DEADLINE` seconds."""
    script = tmp_path / "script.py"
    script.write_text(CONFIG + textwrap.dedent(body) + '\nprint("done", flush=True)\n')
    return run_args(tmp_path, [sys.executable, str(script), *args])


def run_args(tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        reached = "reached the end, then hung at exit" if "done" in out else "did not finish"
        pytest.fail(f"the process {reached} ({DEADLINE:g} s)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("done"), result.stdout
    assert "Traceback" not in result.stderr, result.stderr


def test_a_sandbox_notifier_never_closed(tmp_path):
    result = run_script(
        tmp_path,
        """
        from notifykit import Notifier
        kit = Notifier.from_config("sandbox.yaml", sandbox=True)
        print(kit.notify("db.down", data={"host": "db1"}).ok)
        """,
    )
    assert_clean(result)
    assert result.stdout.split() == ["True", "done"]


def test_configure_with_sandbox_then_module_notify(tmp_path):
    result = run_script(
        tmp_path,
        """
        import notifykit
        notifykit.configure("sandbox.yaml", sandbox=True)
        print(notifykit.notify("db.down", data={"host": "db1"}).ok)
        """,
    )
    assert_clean(result)
    assert result.stdout.split() == ["True", "done"]


def test_a_plain_notifier_against_a_simulator_the_script_never_stops(tmp_path):
    result = run_script(
        tmp_path,
        """
        from notifykit import Notifier
        from notifykit_exotel.simulator import ExotelSimulator
        sim = ExotelSimulator(auto_progress=True, progress_delay=0.01).start()
        config["accounts"]["main"]["base_url"] = sim.base_url
        config["store"] = "ledger.db"
        with open("plain.yaml", "w") as f:
            yaml.safe_dump(config, f)
        kit = Notifier.from_config("plain.yaml")
        print(kit.notify("db.down", data={"host": "db1"}).ok)
        """,
    )
    assert_clean(result)


def test_a_plain_notifier_against_the_tests_simulator_never_closed(tmp_path, sim):
    config = write_config(tmp_path, sim)
    result = run_script(
        tmp_path,
        f"""
        from notifykit import Notifier
        kit = Notifier.from_config({str(config)!r})
        print(kit.notify("db.down", data={{"host": "db1"}}).ok)
        """,
    )
    assert_clean(result)
    assert result.stdout.split() == ["True", "done"]
    assert len(sim.requests) == 1


def test_a_worker_left_running_in_a_daemon_thread_mid_request(tmp_path, sim):
    """A daemon thread running ``Worker.run()``, a request in flight when the script ends: the
    process exits, and the worker had stopped and recorded first (an exit hook waits for it),
    so nothing is left ``sending`` or leased."""
    config = write_config(tmp_path, sim, worker={"lease": "60s", "poll": "0.2s"})
    sim.inject(Fault(delay=0.5))
    result = run_script(
        tmp_path,
        f"""
        import threading
        from notifykit import Notifier
        kit = Notifier.from_config({str(config)!r})
        for i in range(3):
            kit.submit("db.down", data={{"host": "x"}}, to=f"+9198000{{i:05d}}")
        worker = kit.worker(threads=1, batch=1)
        threading.Thread(target=worker.run, daemon=True).start()
        wait_for_a_request({sim.admin_url!r})
        """,
    )
    assert_clean(result)
    assert len(sim.requests) == 1
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as db:
        rows = db.execute("SELECT state, lease_owner FROM deliveries ORDER BY state").fetchall()
    assert rows == [("pending", None), ("pending", None), ("sent", None)]


def test_a_worker_left_running_in_a_plain_thread_stops_when_the_script_ends(tmp_path, sim):
    """A non-daemon thread running ``Worker.run()`` that nobody stops: once the main thread
    is done, the worker stops as on ``stop()`` (its executor could not take new work anyway):
    the request in flight is answered and recorded, the rest is given back, and the process
    exits."""
    config = write_config(tmp_path, sim, worker={"lease": "60s", "poll": "0.2s"})
    sim.inject(Fault(delay=0.5))  # the first request is in flight when the script ends
    result = run_script(
        tmp_path,
        f"""
        import threading
        from notifykit import Notifier
        kit = Notifier.from_config({str(config)!r})
        for i in range(3):
            kit.submit("db.down", data={{"host": "x"}}, to=f"+9198100{{i:05d}}")
        threading.Thread(target=kit.worker(threads=1, batch=1).run).start()
        wait_for_a_request({sim.admin_url!r})
        """,
    )
    assert_clean(result)
    assert len(sim.requests) == 1
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as db:
        rows = db.execute("SELECT state, lease_owner FROM deliveries ORDER BY state").fetchall()
    assert rows == [("pending", None), ("pending", None), ("sent", None)]


def test_the_pytest_fixtures_and_a_forgotten_sandbox_in_a_test_run(tmp_path):
    (tmp_path / "test_forgetful.py").write_text(
        textwrap.dedent(
            """
            import notifykit
            from notifykit import Notifier

            FORGOTTEN = []  # kept to the end of the run, as a module's global would be

            def test_fixture(notifykit_notifier, exotel_simulator):
                assert notifykit.notify("db.down", data={"host": "db1"}).ok
                assert len(exotel_simulator.requests) == 1

            def test_forgotten_sandbox(tmp_path):
                config = {
                    "accounts": {"main": {"provider": "exotel"}},
                    "channels": {"sms": {"type": "exotel-sms", "account": "main",
                                         "senders": {"default": {"from": "NKALRT"}}}},
                    "recipients": {"p0": {"phone": "+919876543210"}},
                    "defaults": {"channels": ["sms"], "to": ["p0"]},
                }
                kit = Notifier.from_config(config, sandbox=True)
                FORGOTTEN.append(kit)
                assert kit.notify("db.down", data={"host": "db1"}).ok
            """
        )
    )
    result = run_args(
        tmp_path,
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_forgetful.py"],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
