"""Every benchmark scenario at a tiny size, so the benchmark cannot rot: it asserts that the
messages arrived (the simulator's counts), never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import run, table
from bench.scenarios import SCENARIOS
from bench.summary import GOALS, summarize

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return run("tiny")


def test_every_scenario_delivered_what_it_sent(results) -> None:  # type: ignore[no-untyped-def]
    assert results.checks, "no scenario checked anything"
    failed = [c for c in results.checks if not c.ok]
    assert failed == [], table(results)
    measured = {r.scenario for r in results.rows}
    assert {c.scenario for c in results.checks} & measured
    assert {f"{name} took" for name in SCENARIOS} <= set(results.notes)  # each one ran


def test_every_scenario_measured_its_rows_against_a_peer_or_a_target(results) -> None:  # type: ignore[no-untyped-def]
    assert all(row.samples for row in results.rows)
    for row in results.rows:
        if row.target is not None and row.target_is_ratio:
            assert row.versus is not None, row  # a ratio target needs its peer
            assert results.met(row) is not None
    for row in results.rows:
        if row.versus is not None:
            results.row(row.scenario, row.versus)  # the peer is in the same run
    data = results.to_dict()
    json.dumps(data)  # --json can print it
    assert {r["scenario"] for r in data["rows"]} >= {
        "one SMS",
        "start-up",
        "text checks",
        "wake-up",
    }


def test_the_issue_20_table_has_every_row_with_a_verdict(results) -> None:  # type: ignore[no-untyped-def]
    """One line per row of issue 20's table; those whose scenario ran at the tiny sizes carry a
    value and OK or SHORT (which one is the benchmark's business, not the smoke test's)."""
    lines = summarize(results)
    assert [line.measure for line in lines] == [goal.measure for goal in GOALS]
    assert len(lines) == 8
    verdicts = {line.measure: line.verdict for line in lines}
    assert set(verdicts.values()) <= {"OK", "SHORT", "not run"}
    ran = [m for m in verdicts if not m.startswith(("10,000", "1,000", "submit(), PostgreSQL"))]
    assert all(verdicts[m] in ("OK", "SHORT") for m in ran), verdicts
    one_sms = {r.variant: r for r in results.rows if r.scenario == "one SMS"}
    assert "SQLite one-row commit, full (fsync reference)" in one_sms
    assert "commit" in lines[0].detail and "bare POST" in lines[0].detail


def test_the_wakeup_scenario_was_woken_not_polled(results) -> None:  # type: ignore[no-untyped-def]
    """Its SQLite workers poll every 30 s: each page arriving well within that was a wake-up
    (a loose bound: the speed is the benchmark's business, the smoke test's is that it works)."""
    rows = {r.variant: r for r in results.rows if r.scenario == "wake-up"}
    for variant in ("SQLite, wake-up socket", "SQLite, no socket: data_version"):
        latencies = rows[f"{variant} (poll 30s): p50"].samples
        assert latencies and all(0 < s < 10 for s in latencies), (variant, latencies)
        assert rows[f"{variant} (poll 30s): p99"].target == 0.100


def test_python_m_bench_json_runs_one_scenario_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--json", "--only", "text"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == "python -m bench --tiny --json --only text"
    assert [r["variant"] for r in data["rows"]] == ["render+encoding+segments+DLT"]
    issue = {line["measure"]: line["verdict"] for line in data["issue 20"]}
    assert len(issue) == 8
    assert issue["render + segments + DLT check (thread CPU time)"] in ("OK", "SHORT")
    assert list(issue.values()).count("not run") == 7
    assert all(c["expected"] == c["got"] for c in data["checks"])
