"""The benchmark's machinery: the simulator in its own process, side-by-side timing, results.

The simulator runs in a child process so that it does not compete for the measured code's GIL
(in one process, a 10,000-number broadcast spends a third of its time waiting for the simulator's
threads); its rate limit is off unless a scenario sets one. Variants of a scenario run
interleaved, in a rotating order, round after round, so that a burst of load on the machine
hits every variant alike; the result of each is the median of its rounds.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

SID = "ACbench"
TOKEN = "bench-token"
#: "no limit" for the simulator: it keeps a sliding window of this many request times
UNLIMITED = 10**9


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """The child process: a simulator, answering the parent's commands until told to stop."""
    import logging

    from notifykit_exotel.simulator import ExotelSimulator

    logging.disable(logging.CRITICAL)  # a benchmark's faults are expected, not news
    sim = ExotelSimulator(sid=SID, token=TOKEN, rate_limit=UNLIMITED, rate_window=60.0)
    sim.start()
    conn.send(sim.base_url)
    while True:
        command, *args = conn.recv()
        if command == "stop":
            sim.stop()
            conn.send(None)
            return
        if command == "reset":
            sim.reset()
            answer: Any = None
        elif command == "limit":
            sim.reset()
            sim.rate_limit, sim.rate_window = args
            answer = None
        elif command == "arrivals":
            answer = [r.time for r in sim.requests]
        elif command == "counts":
            statuses = Counter(r.status for r in sim.requests)
            answer = {
                "requests": sum(statuses.values()),
                "messages": len(sim.messages),
                "statuses": dict(statuses),
            }
        else:
            answer = ValueError(f"unknown command {command!r}")
        conn.send(answer)


class SimulatorProcess:
    """The project's Exotel simulator in a child process, driven over a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        if not self._conn.poll(30):
            self._process.kill()
            raise RuntimeError("the simulator process did not start within 30 s")
        self.base_url: str = self._conn.recv()
        self.sid, self.token = SID, TOKEN

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def reset(self) -> None:
        """Forget requests, messages and the rate window; rate limit off."""
        self._ask("limit", UNLIMITED, 60.0)

    def limit(self, requests: int, window: float) -> None:
        """A fresh account with a rate limit of ``requests`` per ``window`` seconds."""
        self._ask("limit", requests, window)

    def counts(self) -> dict[str, Any]:
        """``requests`` received, SMS ``messages`` created, and requests by HTTP ``statuses``."""
        return dict(self._ask("counts"))

    def arrivals(self) -> list[float]:
        """When each request arrived, in order: ``time.monotonic()`` in the simulator's process,
        which on one host is the same clock as this process's."""
        return list(self._ask("arrivals"))

    def close(self) -> None:
        if self._process.is_alive():
            with suppress(EOFError, OSError):
                self._ask("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


@contextmanager
def simulator() -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess()
    try:
        yield sim
    finally:
        sim.close()


@dataclass
class Row:
    """One measured variant: its samples (seconds, or another ``unit``), and what it should be
    compared with."""

    scenario: str
    variant: str
    samples: list[float]
    unit: str = "s"
    #: the variant this one is a ratio of (the peer), if any
    versus: str | None = None
    #: the most (or, with ``higher_is_better``, the least) the value or ratio may be
    target: float | None = None
    target_is_ratio: bool = True
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Check:
    """What a run must have delivered: the smoke test asserts these, never speeds."""

    scenario: str
    what: str
    expected: Any
    got: Any

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.got)


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    def row(self, scenario: str, variant: str) -> Row:
        return next(r for r in self.rows if r.scenario == scenario and r.variant == variant)

    def ratio(self, row: Row) -> float | None:
        if row.versus is None:
            return None
        peer = self.row(row.scenario, row.versus).median
        return row.median / peer if peer else None

    def met(self, row: Row) -> bool | None:
        if row.target is None:
            return None
        value = self.ratio(row) if row.target_is_ratio else row.median
        if value is None:
            return None
        return value >= row.target if row.higher_is_better else value <= row.target

    def check(self, scenario: str, what: str, expected: Any, got: Any) -> None:
        self.checks.append(Check(scenario, what, expected, got))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [
                {
                    "scenario": r.scenario,
                    "variant": r.variant,
                    "median": r.median,
                    "unit": r.unit,
                    "samples": r.samples,
                    "versus": r.versus,
                    "ratio": self.ratio(r),
                    "target": r.target,
                    "target_is_ratio": r.target_is_ratio,
                    "higher_is_better": r.higher_is_better,
                    "met": self.met(r),
                    "note": r.note,
                }
                for r in self.rows
            ],
            "checks": [
                {"scenario": c.scenario, "what": c.what, "expected": c.expected, "got": c.got}
                for c in self.checks
            ],
            "notes": self.notes,
        }


def interleave(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, in a rotating order; each returns its own measurement
    (so its set-up is not timed). Returns the samples by variant."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(variants[name]())
    return samples


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
