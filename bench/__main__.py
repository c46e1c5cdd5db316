"""``python -m bench [--quick] [--json] [--only NAME ...]``: run the benchmark and print a table
(or, with ``--json``, the results as JSON on stdout)."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.harness import Results, simulator
from bench.scenarios import SCENARIOS, SIZES, Env
from bench.summary import render, summarize


def run(size: str, only: Sequence[str] = ()) -> Results:
    """Run the scenarios (all, or those in ``only``) at ``size`` (tiny, quick, full)."""
    results = Results()
    with simulator() as sim, tempfile.TemporaryDirectory(prefix="nk-bench-") as scratch:
        env = Env(sim, Path(scratch), SIZES[size], results)
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            started = time.perf_counter()
            scenario(env)
            results.notes[f"{name} took"] = f"{time.perf_counter() - started:.1f} s"
    return results


def hardware() -> str:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in out.splitlines()
                if line.startswith("Model name")
            ),
            model,
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    import os

    return (
        f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}, {platform.system()}"
    )


def _value(value: float, unit: str) -> str:
    if unit in ("s", "s/send"):
        return f"{value * 1000:.3f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "MiB":
        return f"{value:.2f} MiB"
    if unit == "WAL frames":
        return f"{value:.2f} frames"
    if unit.startswith("%"):
        return f"{value:.2f} {unit}"
    return f"{value:,.0f} {unit}"


def table(results: Results) -> str:
    lines = [f"{'scenario':<34} {'variant':<48} {'median':>14} {'ratio':>7}  target"]
    for row in results.rows:
        ratio = results.ratio(row)
        target = ""
        if row.target is not None:
            met = results.met(row)
            sign = ">=" if row.higher_is_better else "<="
            goal = f"{row.target:g}x" if row.target_is_ratio else _value(row.target, row.unit)
            target = f"{sign} {goal} {'met' if met else 'MISSED'}"
        lines.append(
            f"{row.scenario:<34} {row.variant:<48} {_value(row.median, row.unit):>14} "
            f"{'' if ratio is None else f'{ratio:.2f}x':>7}  {target}"
            + (f"  ({row.note})" if row.note else "")
        )
    bad = [c for c in results.checks if not c.ok]
    lines.append(f"checks: {len(results.checks) - len(bad)} of {len(results.checks)} as expected")
    lines.extend(
        f"  FAILED {c.scenario}: {c.what}: expected {c.expected}, got {c.got}" for c in bad
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 2 minutes)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (no real numbers)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=(), help="scenarios")
    args = parser.parse_args(argv)
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    results = run(size, args.only)
    header = {
        "date": started,
        "hardware": hardware(),
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "size": size,
    }
    if args.json:
        issue = [line.to_dict() for line in summarize(results)]
        print(json.dumps({**header, **results.to_dict(), "issue 20": issue}, indent=2))
    else:
        print(f"{header['date']} | {header['hardware']} | {header['command']}")
        print(table(results))
        for key, value in results.notes.items():
            print(f"  {key}: {value}")
        print(render(summarize(results)))
    return 0 if all(c.ok for c in results.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
