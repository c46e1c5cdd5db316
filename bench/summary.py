"""Issue 20's table ("Performance at the physical limit"): every row, its target, the value this
run measured and ``OK`` or ``SHORT``, computed from the run's rows (so every figure is one
measured side by side in the same run). A row whose scenario did not run (``--only``, or
PostgreSQL without ``NOTIFYKIT_BENCH_POSTGRES``) is ``not run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import Results, Row

#: the fsync reference of the one-SMS row: a one-row INSERT + COMMIT at synchronous=full
FSYNC_REFERENCE = "SQLite one-row commit, full (fsync reference)"
#: the same, in a loop in the outbox scenario (commits a second), interleaved with its rounds
OUTBOX_FSYNC_REFERENCE = "one-row SQLite commits, full (fsync reference)"
SINGLE_FILE = "notify(), ledger file (synchronous=full)"
BARE_POST = "requests.Session().post (peer)"
RIDE_LIMITER = "notify(), sliding-log limiter"


@dataclass(frozen=True)
class Goal:
    """One row of the issue's table: what it measures, its target, and how to read it here."""

    measure: str
    target: str
    #: the row's (value, limit, detail) from the results, or None if its scenario did not run
    read: Callable[[Results], tuple[float, float, str] | None]
    #: the value must be at least the limit (else at most)
    higher_is_better: bool = False
    #: how to print value and limit
    unit: str = "x"


@dataclass(frozen=True)
class Line:
    measure: str
    target: str
    value: str
    verdict: str  # OK, SHORT, not run
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "target": self.target,
            "value": self.value,
            "verdict": self.verdict,
            "detail": self.detail,
        }


def _row(results: Results, scenario: str, variant: str) -> Row | None:
    return next((r for r in results.rows if r.scenario == scenario and r.variant == variant), None)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _one_sms(results: Results) -> tuple[float, float, str] | None:
    ours = _row(results, "one SMS", SINGLE_FILE)
    bare = _row(results, "one SMS", BARE_POST)
    fsync = _row(results, "one SMS", FSYNC_REFERENCE)
    if ours is None or bare is None or fsync is None:
        return None
    limit = bare.median + 1.2 * fsync.median
    detail = (
        f"notify() {_ms(ours.median)}; bare POST {_ms(bare.median)} + 1.2 x commit "
        f"{_ms(fsync.median)} = {_ms(limit)}"
    )
    return ours.median, limit, detail


def _ratio(
    scenario: str, variant: str, limit: float
) -> Callable[[Results], tuple[float, float, str] | None]:
    def read(results: Results) -> tuple[float, float, str] | None:
        row = _row(results, scenario, variant)
        ratio = None if row is None else results.ratio(row)
        if row is None or ratio is None or row.versus is None:
            return None
        peer = results.row(scenario, row.versus).median
        return ratio, limit, f"{row.median:.3f} s vs {peer:.3f} s ({row.versus})"

    return read


def _apprise(results: Results) -> tuple[float, float, str] | None:
    ratios = []
    for size in ("1,000", "10,000"):
        read = _ratio(f"broadcast to {size}", "notify()", 0.9)(results)
        if read is None:
            return None
        ratios.append(read[0])
    return max(ratios), 0.9, f"the larger of 1,000: {ratios[0]:.2f}x, 10,000: {ratios[1]:.2f}x"


def _rate(
    scenario: str, variant: str, limit: float, *, threads: int = 0
) -> Callable[[Results], tuple[float, float, str] | None]:
    def read(results: Results) -> tuple[float, float, str] | None:
        row = _row(results, scenario, variant)
        if row is None:
            return None
        detail = f"rounds {min(row.samples):,.0f}-{max(row.samples):,.0f}/s"
        fsync = _row(results, scenario, OUTBOX_FSYNC_REFERENCE)
        if threads and fsync is not None:
            # each thread has one submit() waiting at most, so a group commit holds at most
            # ``threads`` of them: the rate cannot pass threads x synced commits a second
            detail += (
                f"; bound {threads} x {fsync.median:,.0f} synced one-row commits/s "
                f"(same rounds) = {threads * fsync.median:,.0f}/s"
            )
        return row.median, limit, detail

    return read


def _startup(results: Results) -> tuple[float, float, str] | None:
    ours = _row(results, "start-up", "first dry-run notify()")
    bare = _row(results, "start-up", "python -c pass (peer)")
    cached = _row(results, "start-up", "first dry-run notify(), bytecode cached")
    if ours is None or bare is None:
        return None
    detail = f"python -c pass {_ms(bare.median)}"
    if cached is not None:
        detail += f"; bytecode cached {_ms(cached.median)}"
    return ours.median, 0.100, detail


def _ride(results: Results) -> tuple[float, float, str] | None:
    row = next(
        (r for r in results.rows if r.variant == RIDE_LIMITER and " sends under " in r.scenario),
        None,
    )
    ratio = None if row is None else results.ratio(row)
    if row is None or ratio is None:
        return None
    refused = [
        c.got for c in results.checks if c.scenario == row.scenario and c.what == "limiter: 429s"
    ]
    four_twenty_nines = sum(sum(r) for r in refused)
    # a 429 is a miss whatever the time: read it as infinitely slow
    value = ratio if four_twenty_nines == 0 else float("inf")
    return value, 1.03, f"{row.scenario}: {ratio:.3f}x, 429s: {four_twenty_nines}"


GOALS = (
    Goal(
        "one SMS via notify() (SQLite file ledger)",
        "<= bare POST + 1.2 x one synced one-row SQLite commit",
        _one_sms,
        unit="s",
    ),
    Goal(
        "10,000-number broadcast: notify() / send_bulk_sms",
        "<= 1.2x",
        _ratio("broadcast to 10,000", "notify() vs send_bulk_sms", 1.2),
    ),
    Goal(
        "1,000 / 10,000-number broadcast: notify() / Apprise exotel:// batch",
        "<= 0.9x both",
        _apprise,
    ),
    Goal(
        "submit(), SQLite synchronous=full, 8 threads",
        ">= 5,000/s",
        _rate("outbox submit()", "synchronous=full, 8 threads", 5000, threads=8),
        higher_is_better=True,
        unit="/s",
    ),
    Goal(
        "submit(), PostgreSQL, 8 threads (NOTIFYKIT_BENCH_POSTGRES)",
        ">= 3,000/s",
        _rate("outbox submit()", "PostgreSQL, 8 threads", 3000),
        higher_is_better=True,
        unit="/s",
    ),
    Goal(
        "first dry-run notify() in a fresh process",
        "<= 100 ms",
        _startup,
        unit="s",
    ),
    Goal("ride the limit: wall / the minimum the limit allows", "<= 1.03x, zero 429s", _ride),
    Goal(
        "render + segments + DLT check (thread CPU time)",
        ">= 80,000/s",
        _rate("text checks", "render+encoding+segments+DLT", 80_000),
        higher_is_better=True,
        unit="/s",
    ),
)


def _show(value: float, unit: str) -> str:
    if value == float("inf"):
        return "429s"
    if unit == "s":
        return _ms(value)
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:.2f}x"


def summarize(results: Results) -> list[Line]:
    """Issue 20's rows, in the issue's order."""
    lines = []
    for goal in GOALS:
        read = goal.read(results)
        if read is None:
            lines.append(Line(goal.measure, goal.target, "-", "not run", ""))
            continue
        value, limit, detail = read
        met = value >= limit if goal.higher_is_better else value <= limit
        lines.append(
            Line(
                goal.measure, goal.target, _show(value, goal.unit), "OK" if met else "SHORT", detail
            )
        )
    return lines


def render(lines: list[Line]) -> str:
    out = [
        "issue 20 (Performance at the physical limit):",
        f"  {'measure':<68} {'target':<54} {'value':>11}  verdict",
    ]
    for line in lines:
        out.append(
            f"  {line.measure:<68} {line.target:<54} {line.value:>11}  {line.verdict}"
            + (f"  ({line.detail})" if line.detail else "")
        )
    return "\n".join(out)
