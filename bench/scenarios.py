"""The benchmark's scenarios: each measures one row of issue 9's table against its peer, in the
same run, and says in its docstring what it measures.

Every scenario takes the :class:`Env` (the simulator process, a scratch directory, the sizes of
the run) and adds rows (timings) and checks (what must have arrived) to the results.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from base64 import b64encode
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.harness import Results, Row, SimulatorProcess, interleave, timed
from bench.summary import FSYNC_REFERENCE, OUTBOX_FSYNC_REFERENCE

BODY = "ALERT db1 is down. -ACME"
TEMPLATE = "ALERT {{ host }} is down. -ACME"
DLT_PATTERN = "ALERT {#var#} is down. -ACME"
ALICE = "+919876543210"


@dataclass(frozen=True)
class Sizes:
    """How big and how often: ``tiny`` for the smoke test, ``quick`` (under two minutes on two
    cores), ``full``."""

    rounds: int  # rounds of the interleaved variants
    single_calls: int  # sends per round in the one-SMS scenario
    broadcasts: tuple[int, ...]  # recipients of the broadcasts
    apprise_unbatched: int  # recipients for Apprise with batch off (one request each)
    ride_sends: int  # sends under the scaled-down limit
    ride_limit: tuple[int, float]  # that limit: requests per window (s)
    ride_rounds: int
    default_limit_numbers: int  # numbers of the broadcast under 200/minute (100 per request)
    submits: int  # submit() calls per round
    drain: int  # deliveries drained by the worker per round
    startup_runs: int
    text_checks: int
    memory: tuple[int, int]  # deliveries for the small and the large memory run
    apprise_throttled: int  # recipients for Apprise at its default throttle (batch on)
    wakeups: int  # submits to an idle worker process (the wake-up scenario)
    idle_seconds: float  # how long that worker's idle CPU is measured
    callbacks: int = 2_000  # status callbacks posted to each server per round


SIZES = {
    "tiny": Sizes(1, 3, (150,), 3, 6, (3, 0.2), 1, 150, 20, 20, 1, 200, (100, 200), 0, 5, 0.5, 40),
    "quick": Sizes(3, 150, (1_000, 10_000), 300, 400, (50, 1.0), 1, 10_000, 500, 200, 3, 20_000, (1_000, 10_000), 200, 50, 10.0),
    "full": Sizes(5, 500, (1_000, 10_000), 1_000, 400, (50, 1.0), 3, 10_000, 2_000, 2_000, 7, 100_000, (1_000, 10_000), 200, 50, 30.0),
}  # fmt: skip


@dataclass
class Env:
    sim: SimulatorProcess
    scratch: Path
    sizes: Sizes
    results: Results

    def config(
        self,
        *,
        store: str = ":memory:",
        rate_limit: int = 100_000,
        rate_window: str = "60s",
        synchronous: str | None = None,
    ) -> dict[str, Any]:
        """A notifykit config against the simulator: ``sms`` (bulk) and ``sms1`` (one request per
        recipient), the ``alert`` template with its DLT pattern."""
        templates = self.scratch / "templates"
        templates.mkdir(exist_ok=True)
        (templates / "alert.sms.j2").write_text(TEMPLATE)
        channel = {
            "type": "exotel-sms",
            "account": "main",
            "senders": {"default": {"from": "NKALRT"}},
        }
        return {
            "defaults": {"channels": ["sms"], "template": "alert"},
            "accounts": {
                "main": {
                    "provider": "exotel",
                    "sid": self.sim.sid,
                    "token": self.sim.token,
                    "base_url": self.sim.base_url,
                    "rate_limit": rate_limit,
                    "rate_window": rate_window,
                }
            },
            "channels": {"sms": channel, "sms1": {**channel, "bulk": False}},
            "recipients": {"alice": {"phone": ALICE}},
            "templates": {"directory": str(templates), "alert": {"dlt_pattern": DLT_PATTERN}},
            "store": store if synchronous is None else {"path": store, "synchronous": synchronous},
        }

    def store(self, name: str) -> str:
        path = self.scratch / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return str(path)

    def arrived(self, scenario: str, what: str, messages: int, requests: int | None = None) -> None:
        counts = self.sim.counts()
        self.results.check(scenario, f"{what}: SMS created", messages, counts["messages"])
        if requests is not None:
            self.results.check(scenario, f"{what}: requests", requests, counts["requests"])


@contextmanager
def notifier(config: Mapping[str, Any]) -> Iterator[Any]:
    from notifykit import Notifier

    kit = Notifier.from_config(config)
    try:
        yield kit
    finally:
        kit.close()


def numbers(count: int) -> list[str]:
    return [f"+9198{i:08d}" for i in range(count)]


def _form(to: str | list[str]) -> dict[str, Any]:
    return {"From": "NKALRT", "To": to, "Body": BODY}


# -- one SMS ---------------------------------------------------------------------------------


def single_sms(env: Env) -> None:
    """One SMS, send after send, over one kept-alive connection: ``notify()`` (with the ledger in
    memory, and in a SQLite file at the default durability), ``ExotelClient.send_sms`` on its own,
    and the peers: a bare ``requests.Session().post`` and stdlib ``http.client`` of the same form;
    and the fsync reference, a one-row INSERT + COMMIT at ``synchronous=full`` into a scratch
    SQLite file in WAL mode (one fsync), interleaved with the sends. The value is the mean time
    per send (or commit) in a round of ``single_calls``; the targets are ``notify()`` (in memory)
    at most 1.0x the bare ``requests`` POST, and (issue 20, see :mod:`bench.summary`)
    ``notify()`` on the file at most the bare POST + 1.2 x the fsync reference."""
    import requests

    from notifykit_exotel import ExotelClient, RetryPolicy

    name, n = "one SMS", env.sizes.single_calls
    url = f"{env.sim.base_url}/v1/Accounts/{env.sim.sid}/Sms/send.json"
    auth = (env.sim.sid, env.sim.token)
    session = requests.Session()
    parts = urlsplit(env.sim.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    basic = "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    client = ExotelClient(
        *auth, base_url=env.sim.base_url, rate_limit=None, retry=RetryPolicy.none()
    )

    def bare() -> None:
        response = session.post(url, data=_form(ALICE), auth=auth, timeout=30)
        response.raise_for_status()
        response.json()

    def stdlib() -> None:
        body = urlencode(_form(ALICE))
        headers = {
            "Authorization": basic,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        conn.request("POST", urlsplit(url).path, body, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"http.client: {response.status}")
        json.loads(data)

    reference = _fsync_reference(env.store("fsync-reference"))

    with (
        notifier(env.config()) as memory_kit,
        notifier(env.config(store=env.store("single"))) as file_kit,
        contextlib.closing(reference),
    ):
        sends: dict[str, Callable[[], Any]] = {
            "requests.Session().post (peer)": bare,
            "http.client (peer)": stdlib,
            "ExotelClient.send_sms": lambda: client.send_sms("NKALRT", ALICE, BODY),
            "notify(), ledger in memory": lambda: memory_kit.send(
                "sms", to="alice", data={"host": "db1"}
            ),
            "notify(), ledger file (synchronous=full)": lambda: file_kit.send(
                "sms", to="alice", data={"host": "db1"}
            ),
        }
        commits: dict[str, Callable[[], Any]] = {
            FSYNC_REFERENCE: lambda: reference.execute("INSERT INTO t (body) VALUES (?)", (BODY,)),
        }
        for send in sends.values():  # warm up: connections, templates, phonenumbers metadata
            for _ in range(3):
                send()
        env.sim.reset()

        def per_send(send: Callable[[], Any]) -> Callable[[], float]:
            return lambda: timed(lambda: [send() for _ in range(n)]) / n

        for commit in commits.values():
            commit()
        samples = interleave(
            {k: per_send(v) for k, v in {**sends, **commits}.items()}, env.sizes.rounds
        )
        rows = reference.execute("SELECT count(*) FROM t").fetchone()[0]
        frames = {
            "notify(), ledger file: WAL frames per send": _wal_frames(
                env.store("frames"),
                lambda store: notifier(env.config(store=store)),
                lambda kit: kit.send("sms", to="alice", data={"host": "db1"}),
            ),
            "fsync reference: WAL frames per commit": _wal_frames(
                env.store("frames-reference"),
                lambda store: contextlib.closing(_fsync_reference(store)),
                lambda db: db.execute("INSERT INTO t (body) VALUES (?)", (BODY,)),
            ),
        }
    env.arrived(name, "all variants", len(sends) * n * env.sizes.rounds + WAL_SENDS + 10)
    env.results.check(name, "fsync reference: rows committed", 1 + n * env.sizes.rounds, rows)
    peer = "requests.Session().post (peer)"
    for variant, values in samples.items():
        row = Row(name, variant, values, unit="s/send")
        if variant not in (peer, FSYNC_REFERENCE):
            row.versus = peer
        if variant == "notify(), ledger in memory":
            row.target = 1.0
        env.results.rows.append(row)
    for variant, value in frames.items():  # what a synced commit has to flush, per send
        env.results.rows.append(Row(name, variant, [value], unit="WAL frames"))
    session.close()
    conn.close()
    client.close()


#: sends (or commits) counted by :func:`_wal_frames`, after 10 to warm up
WAL_SENDS = 100


def _wal_frames(
    path: str,
    opened: Callable[[str], contextlib.AbstractContextManager[Any]],
    send: Callable[[Any], Any],
) -> float:
    """Pages (WAL frames) one ``send`` writes to the WAL of the SQLite file at ``path``: the
    WAL's growth over :data:`WAL_SENDS` sends into a new file, whose WAL no checkpoint restarts
    within so few. Every frame is flushed by a synced commit (its own or the next), so this is
    what a send costs the disk, whatever the clock says on a shared machine."""
    wal = Path(f"{path}-wal")
    with opened(path) as target:
        for _ in range(10):
            send(target)
        with wal.open("rb") as header:  # the WAL header's page size: bytes 8-11
            page = int.from_bytes(header.read(12)[8:12], "big")
        before = wal.stat().st_size
        for _ in range(WAL_SENDS):
            send(target)
        grown = wal.stat().st_size - before
    return grown / (page + 24) / WAL_SENDS


def _fsync_reference(path: str) -> Any:
    """The one-SMS row's reference for a synced commit: a SQLite file in WAL mode (as the
    ledger's) at ``synchronous=full``, in autocommit, so each INSERT is its own transaction
    and its COMMIT one fsync of the WAL."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    return db


# -- a routed notify() ---------------------------------------------------------------------


def routed(env: Env) -> None:
    """What the routing costs: one SMS through ``notify(event, labels=...)`` with a ``route:``
    tree (each alert a new group, sent at once: route, group, flush stages, plan, store in one
    transaction, then the send and its record), beside the direct ``notify(event, to=...)`` of
    the same message, both on a SQLite file at the default durability. Also counts each one's
    write transactions and the statements it runs outside them (reads): the target is 2 and 0,
    and the routed send at most 1.15x the direct one."""
    name, n = "routed notify", env.sizes.single_calls
    route = {
        "receivers": {"ops": {"channels": ["sms"], "to": ["alice"]}},
        "route": {"receiver": "ops", "group_by": ["event", "host"]},
    }
    with (
        notifier(env.config(store=env.store("direct"))) as direct_kit,
        notifier({**env.config(store=env.store("routed")), **route}) as routed_kit,
    ):
        counter = iter(range(10**9))

        def direct() -> Any:
            return direct_kit.notify("db.down", to="alice", data={"host": "db1"})

        def via_routes() -> Any:
            # a new alert each time: a new group, flushed at once (nothing deduplicated)
            n = next(counter)
            return routed_kit.notify("db.down", labels={"host": f"db{n}"}, data={"host": "db1"})

        sends = {"notify(to=...), direct": direct, "notify(labels=...), routed": via_routes}
        for send in sends.values():
            for _ in range(3):
                send()
        for variant, kit, send in (
            ("direct", direct_kit, direct),
            ("routed", routed_kit, via_routes),
        ):
            begins, outside = _transactions(kit, send)
            env.results.check(name, f"{variant}: write transactions per notify()", 2, begins)
            env.results.check(name, f"{variant}: statements outside them (reads)", 0, outside)
        env.sim.reset()

        def per_send(send: Callable[[], Any]) -> Callable[[], float]:
            return lambda: timed(lambda: [send() for _ in range(n)]) / n

        samples = interleave({k: per_send(v) for k, v in sends.items()}, env.sizes.rounds)
    env.arrived(name, "both variants", len(sends) * n * env.sizes.rounds)
    peer = "notify(to=...), direct"
    for variant, values in samples.items():
        row = Row(name, variant, values, unit="s/send")
        if variant != peer:
            row.versus, row.target = peer, 1.15
        env.results.rows.append(row)


def _transactions(kit: Any, send: Callable[[], Any]) -> tuple[int, int]:
    """The write transactions ``send()`` runs on ``kit``'s SQLite ledger, and the statements it
    runs outside any of them."""
    statements: list[str] = []
    db = kit.ledger._db  # the SQLite connection: its trace callback sees every statement
    db.set_trace_callback(statements.append)
    try:
        send()
    finally:
        db.set_trace_callback(None)
    depth, begins, outside = 0, 0, 0
    for statement in statements:
        if statement.startswith("BEGIN"):
            depth, begins = depth + 1, begins + 1
        elif statement in ("COMMIT", "ROLLBACK"):
            depth -= 1
        elif depth == 0 and not statement.startswith("PRAGMA synchronous"):
            outside += 1  # (a PRAGMA choosing the outcome commit's durability reads nothing)
    return begins, outside


# -- broadcasts ------------------------------------------------------------------------------


def _apprise(env: Env, targets: list[str], *, batch: bool, throttle: float | None) -> float:
    """Apprise's ``exotel://`` plugin sending one body to ``targets``, timed from building the
    plugin object (where it validates the numbers, as notify() validates them while planning).

    Apprise hard-codes Exotel's host in ``EXOTEL_API_LOOKUP``; the benchmark points that table at
    the simulator (inside this process only). ``throttle`` ``None`` keeps Apprise's default wait
    between requests (``request_rate_per_sec``, 5.5 s), ``0`` turns it off.
    """
    from apprise.plugins import exotel

    # Apprise sends numbers as bare digits (it drops the +), which the simulator takes only in
    # the national form: the same recipients, 0-prefixed.
    targets = ["0" + t[3:] if t.startswith("+91") else t for t in targets]
    for region in list(exotel.EXOTEL_API_LOOKUP):
        exotel.EXOTEL_API_LOOKUP[region] = f"{env.sim.base_url}/v1/Accounts/{{sid}}/Sms/send"
    start = time.perf_counter()
    plugin = exotel.NotifyExotel(
        sid=env.sim.sid, token=env.sim.token, source="NKALRT", targets=targets, batch=batch
    )
    if throttle is not None:
        plugin.request_rate_per_sec = throttle
    if not plugin.send(BODY):
        raise RuntimeError("Apprise reported a failed send")
    return time.perf_counter() - start


def broadcasts(env: Env) -> None:
    """One body to 1,000 and to 10,000 numbers: ``notify()`` (bulk channel, a real SQLite ledger
    at the default durability) against ``ExotelClient.send_bulk_sms`` on its own and Apprise's
    ``exotel://`` with batching (throttle off), and at the smaller size Apprise without batching
    (one request per number, throttle off). Targets: ``notify()`` at 10,000 at most 1.2x the
    client's bulk method, and faster than Apprise (batch, throttle off) at both sizes."""
    from notifykit_exotel import ExotelClient, RetryPolicy

    client = ExotelClient(
        env.sim.sid,
        env.sim.token,
        base_url=env.sim.base_url,
        rate_limit=None,
        retry=RetryPolicy.none(),
    )
    for size in env.sizes.broadcasts:
        name = f"broadcast to {size:,}"
        targets = numbers(size)
        with notifier(env.config(store=env.store(f"broadcast{size}"))) as kit:
            kit.send("sms", to=targets[:5], data={"host": "db1"})  # warm up
            variants: dict[str, Callable[[], float]] = {
                "ExotelClient.send_bulk_sms": lambda t=targets: timed(  # type: ignore[misc]
                    lambda: client.send_bulk_sms("NKALRT", t, BODY)
                ),
                "notify()": lambda t=targets: timed(  # type: ignore[misc]
                    lambda: kit.send("sms", to=t, data={"host": "db1"})
                ),
                "Apprise exotel:// batch, throttle 0 (peer)": lambda t=targets: _apprise(  # type: ignore[misc]
                    env, t, batch=True, throttle=0
                ),
            }
            env.sim.reset()
            samples = interleave(variants, env.sizes.rounds)
            env.arrived(name, "all variants", len(variants) * size * env.sizes.rounds)
        peer = "Apprise exotel:// batch, throttle 0 (peer)"
        env.results.rows.append(
            Row(name, "ExotelClient.send_bulk_sms", samples["ExotelClient.send_bulk_sms"])
        )
        ours = Row(name, "notify()", samples["notify()"], versus=peer, target=0.9)
        env.results.rows.append(ours)
        env.results.rows.append(Row(name, peer, samples[peer]))
        if size == max(env.sizes.broadcasts):
            env.results.rows.append(
                Row(
                    name,
                    "notify() vs send_bulk_sms",
                    samples["notify()"],
                    versus="ExotelClient.send_bulk_sms",
                    target=1.2,
                )
            )
    size = env.sizes.apprise_unbatched
    if size:
        env.sim.reset()
        targets = numbers(size)
        name = f"unbatched to {size:,}"
        with notifier(env.config()) as kit:
            samples = interleave(
                {
                    "notify(), bulk off (one request each)": lambda: timed(
                        lambda: kit.send("sms1", to=targets, data={"host": "db1"})
                    ),
                    "Apprise exotel:// no batch, throttle 0 (peer)": lambda: _apprise(
                        env, targets, batch=False, throttle=0
                    ),
                },
                env.sizes.rounds,
            )
        env.arrived(name, "both variants", 2 * size * env.sizes.rounds, 2 * size * env.sizes.rounds)
        peer = "Apprise exotel:// no batch, throttle 0 (peer)"
        env.results.rows.append(
            Row(
                name,
                "notify(), bulk off (one request each)",
                samples["notify(), bulk off (one request each)"],
                versus=peer,
                target=1.0,
            )
        )
        env.results.rows.append(Row(name, peer, samples[peer]))
    size = env.sizes.apprise_throttled
    if size:
        env.sim.reset()
        seconds = _apprise(env, numbers(size), batch=True, throttle=None)
        requests = math.ceil(size / 100)
        env.arrived(f"Apprise throttle default to {size:,}", "Apprise", size, requests)
        env.results.rows.append(
            Row(
                f"Apprise throttle default to {size:,}",
                f"Apprise exotel:// batch, default throttle ({requests} requests)",
                [seconds],
                note="Apprise waits request_rate_per_sec (5.5 s) between requests",
            )
        )
    client.close()


# -- riding a rate limit ---------------------------------------------------------------------


def ride_the_limit(env: Env) -> None:
    """``ride_sends`` single sends (``sms1``: one request per recipient) under a scaled-down limit
    (50 per second, the same on the simulator and in the account's ``rate_limit``/``rate_window``),
    against the minimum time the limit allows (``ceil(n / limit) - 1`` windows) and against the peer
    that rides the 429s: the client without a limiter, retrying on Retry-After. Target: at most
    1.03x the minimum, zero 429s.

    Where the time above the minimum goes, from the simulator's arrival times (the same clock
    on one host), is the limiter row's note (medians over the rounds): before the first
    request arrived (planning, the ledger), each window's step past ``window`` (the limiter's
    margin, 1% of the window, plus a request's way back and the next one's way out), the last
    window's requests from its first arrival to its last (sent from the channel's threads, as
    fast as two processes on the machine's cores answer them), and after the last arrival (its
    answer, the ledger). A warm-up send first (no limit, the same numbers), so no round pays
    the process's first imports and number parsing."""
    from notifykit_exotel import ExotelClient, RetryPolicy

    sends, (limit, window) = env.sizes.ride_sends, env.sizes.ride_limit
    name = f"{sends} sends under {limit}/{window:g}s"
    windows = math.ceil(sends / limit)
    minimum = (windows - 1) * window
    targets = numbers(sends)
    refused: dict[str, list[int]] = {"limiter": [], "429s": []}
    parts: dict[str, list[float]] = {
        "before": [],
        "first": [],
        "step": [],
        "pair": [],
        "last": [],
        "after": [],
    }
    with notifier(env.config()) as kit:
        env.sim.reset()
        kit.send("sms1", to=targets, data={"host": "db1"})

    def with_limiter() -> float:
        config = env.config(rate_limit=limit, rate_window=f"{window}s")
        with notifier(config) as kit:
            env.sim.limit(limit, window)
            started = time.monotonic()
            seconds = timed(lambda: kit.send("sms1", to=targets, data={"host": "db1"}))
            ended = time.monotonic()
        counts = env.sim.counts()
        refused["limiter"].append(counts["statuses"].get(429, 0))
        env.results.check(name, "limiter: SMS created", sends, counts["messages"])
        arrived = sorted(env.sim.arrivals())
        if len(arrived) == sends and windows > 1:
            last = (windows - 1) * limit  # the first request of the last window
            parts["before"].append(arrived[0] - started)
            parts["first"].append(arrived[limit - 1] - arrived[0])
            # each request's arrival past the one ``limit`` before it, less the window: the
            # least a server counting arrivals allows is 0 (the margin plus the answer's way
            # back and the next request's way out are what the limiter adds)
            parts["pair"].append(
                statistics_median(
                    [arrived[k + limit] - arrived[k] - window for k in range(sends - limit)]
                )
            )
            parts["step"].append((arrived[last] - arrived[0]) / (windows - 1) - window)
            parts["last"].append(arrived[-1] - arrived[last])
            parts["after"].append(ended - arrived[-1])
        return seconds

    def riding_429s() -> float:
        client = ExotelClient(
            env.sim.sid,
            env.sim.token,
            base_url=env.sim.base_url,
            rate_limit=None,
            retry=RetryPolicy(max_retries=20),
        )
        env.sim.limit(limit, window)
        seconds = timed(lambda: [client.send_sms("NKALRT", t, BODY) for t in targets])
        client.close()
        counts = env.sim.counts()
        refused["429s"].append(counts["statuses"].get(429, 0))
        env.results.check(name, "Retry-After peer: SMS created", sends, counts["messages"])
        return seconds

    samples = interleave(
        {
            "notify(), sliding-log limiter": with_limiter,
            "no limiter, riding 429s with Retry-After (peer)": riding_429s,
        },
        env.sizes.ride_rounds,
    )
    env.results.check(name, "limiter: 429s", [0] * env.sizes.ride_rounds, refused["limiter"])
    env.results.rows.append(Row(name, "minimum the limit allows", [minimum]))
    env.results.rows.append(
        Row(
            name,
            "notify(), sliding-log limiter",
            samples["notify(), sliding-log limiter"],
            versus="minimum the limit allows",
            target=1.03,
            note=f"429s: {refused['limiter']}{_ride_parts(parts)}",
        )
    )
    env.results.rows.append(
        Row(
            name,
            "no limiter, riding 429s with Retry-After (peer)",
            samples["no limiter, riding 429s with Retry-After (peer)"],
            versus="minimum the limit allows",
            note=f"429s: {refused['429s']}",
        )
    )


def _ride_parts(parts: Mapping[str, list[float]]) -> str:
    """The ride's time above the minimum, in milliseconds (medians): see ride_the_limit."""
    if not parts["step"]:
        return ""

    def ms(key: str) -> str:
        return f"{statistics_median(parts[key]) * 1000:.0f}"

    return (
        f"; ms before the first arrival {ms('before')}, first window {ms('first')}, "
        f"per window step +{ms('step')} (per request +{ms('pair')}), "
        f"last window {ms('last')}, after the last arrival {ms('after')}"
    )


def default_limit_broadcast(env: Env) -> None:
    """A broadcast of ``default_limit_numbers`` numbers (100 per request: 100 requests) under
    Exotel's default 200 requests a minute, on the simulator and in the account (its defaults),
    against the same broadcast with the limit off. Target: it fits in the limit, so it waits
    nothing (the token bucket before it waited 19.5 s)."""
    size = env.sizes.default_limit_numbers
    requests = math.ceil(size / 100)
    name = f"{requests}-request broadcast under 200/min"
    targets = numbers(size)
    waited: list[float] = []

    def limited() -> float:
        config = env.config(rate_limit=200, rate_window="1m")
        with notifier(config) as kit:
            env.sim.limit(200, 60.0)
            seconds = timed(lambda: kit.send("sms", to=targets, data={"host": "db1"}))
            waited.append(kit.client("main").rate_limiter.waited)
        counts = env.sim.counts()
        env.results.check(name, "SMS created", size, counts["messages"])
        env.results.check(name, "429s", 0, counts["statuses"].get(429, 0))
        return seconds

    def unlimited() -> float:
        with notifier(env.config()) as kit:
            env.sim.reset()
            return timed(lambda: kit.send("sms", to=targets, data={"host": "db1"}))

    samples = interleave({"limit 200/min": limited, "no limit (peer)": unlimited}, 1)
    env.results.rows.append(
        Row(
            name,
            "limit 200/min",
            samples["limit 200/min"],
            versus="no limit (peer)",
            target=1.2,
            note=f"limiter waited {max(waited):.3f} s",
        )
    )
    env.results.rows.append(Row(name, "no limit (peer)", samples["no limit (peer)"]))
    env.results.rows.append(
        Row(name, "limiter wait", [max(waited)], target=0.05, target_is_ratio=False)
    )


# -- the outbox and the worker ---------------------------------------------------------------


def drain(env: Env, kit: Any, threads: int) -> int:
    """``kit.worker(threads=...).run(drain=True)`` until nothing is pending; returns the
    deliveries sent.

    One run is enough (a drain ends only when an iteration with room in its pool claims nothing
    and nothing is in flight); the loop and the runs it took, noted in the results, show it if
    that ever regresses.
    """
    delivered, runs = 0, 0
    while kit.ledger.counts().get("pending", 0):
        delivered += kit.worker(threads=threads, poll=0.01).run(drain=True).delivered
        runs += 1
    key = f"worker runs to drain (threads={threads})"
    env.results.notes[key] = f"{max(runs, int(env.results.notes.get(key, '0')))}"
    return delivered


def outbox(env: Env) -> None:
    """``submit()`` throughput: one notification to one recipient per call, notifications
    accepted per second (``submit()`` returned: committed at the ledger's durability). Target:
    5,000 a second at the default durability.

    - ``synchronous=full (default)`` and ``synchronous=normal``: one thread calling ``submit()``
      in a loop, into a SQLite file. The honest sequential numbers: each call is its own
      transaction, and at ``full`` its own fsync (the disk's fsync rate is the ceiling);
      ``normal`` (WAL) is durable against a crash of the process, not of the machine, and its
      ceiling is the Python of one call.
    - ``..., 8 threads``: the same calls from 8 threads at once (a web app's request threads),
      the same total count: SQLite's group commit shares one transaction and one fsync among
      the calls waiting at the moment. Its peer, ``..., 8 threads, one commit each``: the same
      ledger with the group commit switched off in this process (``add()`` as
      :class:`~notifykit.ledger.base.SqlLedger` has it, a transaction per call, and SQLite's
      default checkpoint every 1,000 pages): what the threads got before it.
    - ``PostgreSQL, 1 thread`` / ``8 threads`` (only with ``NOTIFYKIT_BENCH_POSTGRES`` set to a
      server URL; a schema of its own, dropped afterwards): the server's own durability
      (``synchronous_commit = on``); the ledger's connection pool commits concurrently, and the
      server's WAL flush serves the commits waiting at the moment.
    - ``one-row SQLite commits, full (fsync reference)``: one-row INSERT + COMMIT at
      ``synchronous=full`` in a loop, interleaved with the rest: the disk's synced commits a
      second in the same rounds. 8 threads have at most 8 ``submit()`` calls waiting, so a
      group commit holds at most 8: 8 x this rate bounds the 8-thread rows at ``full``.
    """
    n = env.sizes.submits
    name = "outbox submit()"
    threads = 8
    per_thread = max(1, n // threads)
    stores: dict[str, Any] = {
        "synchronous=full (default)": ("full", 1),
        "synchronous=normal": ("normal", 1),
        f"synchronous=full, {threads} threads": ("full", threads),
        f"synchronous=normal, {threads} threads": ("normal", threads),
        f"synchronous=full, {threads} threads, one commit each": ("full", threads),
        f"synchronous=normal, {threads} threads, one commit each": ("normal", threads),
    }
    kits: dict[str, Any] = {}
    submitted: dict[str, int] = {}

    def run(variant: str, count: int) -> Callable[[], float]:
        def once() -> float:
            kit = kits[variant]
            if count == 1:
                seconds = timed(
                    lambda: [
                        kit.submit("db.down", to="alice", data={"host": "db1"}) for _ in range(n)
                    ]
                )
                submitted[variant] = submitted.get(variant, 0) + n
                return n / seconds
            start = threading.Barrier(count + 1)

            def work() -> None:
                start.wait()
                for _ in range(per_thread):
                    kit.submit("db.down", to="alice", data={"host": "db1"})

            workers = [threading.Thread(target=work) for _ in range(count)]
            for worker in workers:
                worker.start()
            began = time.perf_counter()
            start.wait()
            for worker in workers:
                worker.join()
            seconds = time.perf_counter() - began
            submitted[variant] = submitted.get(variant, 0) + count * per_thread
            return count * per_thread / seconds

        return once

    with contextlib.ExitStack() as stack:
        variants: dict[str, Callable[[], float]] = {}
        for index, (variant, (synchronous, count)) in enumerate(stores.items()):
            store = env.store(f"outbox-{index}-{synchronous}-{count}")
            kits[variant] = stack.enter_context(
                notifier(env.config(store=store, synchronous=synchronous))
            )
            if variant.endswith("one commit each"):
                _without_group_commit(kits[variant].ledger)
        postgres = os.environ.get("NOTIFYKIT_BENCH_POSTGRES")
        if postgres:
            for count in (1, threads):
                variant = f"PostgreSQL, {count} thread{'s' if count > 1 else ''}"
                url = stack.enter_context(_postgres_schema(postgres))
                kits[variant] = stack.enter_context(notifier(env.config(store=url)))
                stores[variant] = ("server", count)
        for variant, kit in kits.items():
            kit.ledger.counts()  # opened (and migrated) before the timing
            variants[variant] = run(variant, stores[variant][1])
        reference = stack.enter_context(
            contextlib.closing(_fsync_reference(env.store("outbox-fsync-reference")))
        )

        def commits() -> float:
            seconds = timed(
                lambda: [
                    reference.execute("INSERT INTO t (body) VALUES (?)", (BODY,)) for _ in range(n)
                ]
            )
            return n / seconds

        samples = interleave({**variants, OUTBOX_FSYNC_REFERENCE: commits}, env.sizes.rounds)
        stored = {v: sum(kit.ledger.counts().values()) for v, kit in kits.items()}
        committed = reference.execute("SELECT count(*) FROM t").fetchone()[0]
    env.results.check(name, "fsync reference: rows committed", n * env.sizes.rounds, committed)
    env.results.rows.append(
        Row(name, OUTBOX_FSYNC_REFERENCE, samples[OUTBOX_FSYNC_REFERENCE], unit="/s")
    )
    for variant in variants:
        env.results.check(
            name, f"notifications stored ({variant})", submitted[variant], stored[variant]
        )
        peer = f"{variant}, one commit each"
        env.results.rows.append(
            Row(
                name,
                variant,
                samples[variant],
                unit="/s",
                versus=peer if peer in variants else None,
                target=None
                if variant.endswith("one commit each")
                else 3000
                if variant.startswith("PostgreSQL")
                else 5000,
                target_is_ratio=False,
                higher_is_better=True,
            )
        )


def _without_group_commit(ledger: Any) -> None:
    """The outbox's peer: this SQLite ledger as it was before the group commit, each ``add()``
    its own transaction (the base class's) and SQLite's default checkpoint interval."""
    import types

    from notifykit.ledger.base import SqlLedger

    ledger.add = types.MethodType(SqlLedger.add, ledger)
    ledger._db.execute("PRAGMA wal_autocheckpoint = 1000")
    ledger._db.execute("PRAGMA journal_size_limit = -1")


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A new schema on the server at ``url`` for the outbox's PostgreSQL variants; dropped at
    the end. Yields a ``store:`` URL whose sessions use it."""
    import uuid
    from urllib.parse import quote

    import psycopg

    schema = f"nk_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in url else "?"
    try:
        yield f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def worker_drain(env: Env) -> None:
    """Deliveries drained per second by ``kit.worker(threads=N).run(drain=True)``: ``drain``
    single-recipient notifications submitted first (not timed), then sent one request each
    against the unlimited simulator, with 1 and 4 threads, the ledger a SQLite file at the
    default durability (and with 4 threads at ``synchronous=normal``). Reported, no target."""
    n = env.sizes.drain
    name = "worker drain"

    def run(threads: int, synchronous: str = "full") -> Callable[[], float]:
        def once() -> float:
            store = env.store(f"drain{threads}{synchronous}")
            with notifier(env.config(store=store, synchronous=synchronous)) as kit:
                for _ in range(n):
                    kit.submit("db.down", channels="sms1", to="alice", data={"host": "db1"})
                env.sim.reset()
                start = time.perf_counter()
                delivered = drain(env, kit, threads)
                seconds = time.perf_counter() - start
            env.results.check(name, f"threads={threads}: sent", n, delivered)
            env.results.check(
                name, f"threads={threads}: SMS created", n, env.sim.counts()["messages"]
            )
            return n / seconds

        return once

    samples = interleave(
        {
            "threads=1": run(1),
            "threads=4": run(4),
            "threads=4, synchronous=normal": run(4, "normal"),
        },
        env.sizes.rounds,
    )
    for variant, values in samples.items():
        env.results.rows.append(Row(name, variant, values, unit="deliveries/s"))


def memory(env: Env) -> None:
    """Peak traced Python memory (tracemalloc) while the worker sends ``memory`` deliveries
    (broadcasts of 100, so 100 numbers per request), the small run against the large: flat means
    the large run's peak is not a multiple of the small one's. Target: at most 1.5x for 10x the
    deliveries."""
    small, large = env.sizes.memory
    name = "worker peak memory"
    peaks: dict[int, float] = {}
    # Warm up untraced: the first request imports requests and builds its session (several MiB
    # of module objects), which would otherwise count in whichever run came first, not the work.
    with notifier(env.config(store=env.store("memory-warmup"))) as kit:
        kit.submit("db.down", to=numbers(3), data={"host": "db1"})
        drain(env, kit, 2)
    for count in (small, large):
        with notifier(env.config(store=env.store(f"memory{count}"))) as kit:
            for start in range(0, count, 100):
                kit.submit("db.down", to=numbers(count)[start : start + 100], data={"host": "db1"})
            env.sim.reset()
            tracemalloc.start()
            delivered = drain(env, kit, 2)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        env.results.check(name, f"{count}: sent", count, delivered)
        env.results.check(name, f"{count}: SMS created", count, env.sim.counts()["messages"])
        peaks[count] = peak / 2**20
    env.results.rows.append(Row(name, f"{small:,} deliveries", [peaks[small]], unit="MiB"))
    env.results.rows.append(
        Row(
            name,
            f"{large:,} deliveries",
            [peaks[large]],
            unit="MiB",
            versus=f"{small:,} deliveries",
            target=1.5,
        )
    )


# -- page latency: waking an idle worker process ---------------------------------------------

#: ``notifykit worker`` with its SQLite ledger's wake-up changed (argv[1]): ``socketless``, the
#: fallback where no socket can be had (Windows): it watches ``PRAGMA data_version``; ``before``,
#: none at all (other processes' work is found at the poll), as it was
PATCHED_WORKER = """
import sys
from notifykit.ledger.sqlite import SqliteLedger
from notifykit.ledger.wakeup import WakeDirectory
if sys.argv[1] == "socketless":
    WakeDirectory.listen = lambda self: None
else:
    init = SqliteLedger.__init__
    def unwatched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._wake = self._seen_version = None
    SqliteLedger.__init__ = unwatched
from notifykit.cli import main
main(sys.argv[2:])
"""


def wakeup(env: Env) -> None:
    """Page latency across processes: a ``notifykit worker`` process idle on a SQLite file with
    ``worker.poll`` at 30 s (so only its wake-up can start the work), and this process calling
    ``submit()`` ``wakeups`` times, each when the last delivery is recorded and 20-70 ms more
    have passed (random, so the submits fall anywhere in the worker's wait). The latency runs
    from ``submit()``'s return (committed) to the request's arrival at the simulator (the host's
    monotonic clock in both processes): the wake-up, the claim and the send. p99 is the
    nearest rank (of 50, the largest). Then each worker's idle CPU, user + system from
    ``/proc/<pid>/stat`` (Linux), over the same ``idle_seconds`` with nothing to do. Targets:
    p99 at most 100 ms, idle CPU at most 1% of a core.

    Variants, their submits shuffled together: the wake-up socket (the default); the same worker
    without a socket, watching ``PRAGMA data_version`` every 20 ms (the fallback where no socket
    can be had); the peer, no wake-up at all (the ledger as it was: other processes' work is
    found at the poll, ``worker.poll`` at its default 1 s; a fifth of the submits); and, with
    ``NOTIFYKIT_BENCH_POSTGRES`` set, a worker on PostgreSQL (``LISTEN/NOTIFY``, poll 30 s)."""
    import random

    name = "wake-up"
    sockets = "SQLite, wake-up socket (poll 30s)"
    watch = "SQLite, no socket: data_version (poll 30s)"
    before = "SQLite, poll only (poll 1s, before)"
    postgres = "PostgreSQL, LISTEN/NOTIFY (poll 30s)"
    variants: dict[str, tuple[int, str]] = {  # submits, poll
        sockets: (env.sizes.wakeups, "30s"),
        watch: (env.sizes.wakeups, "30s"),
        before: (max(1, env.sizes.wakeups // 5), "1s"),
    }
    patched = {watch: "socketless", before: "before"}
    targeted = (sockets, watch)
    latencies: dict[str, list[float]] = {variant: [] for variant in variants}
    chance = random.Random(15)
    environ = {k: v for k, v in os.environ.items() if k != "NOTIFYKIT_CONFIG"}
    with contextlib.ExitStack() as stack:
        stores = {v: env.store(f"wakeup-{i}") for i, v in enumerate((sockets, watch, before))}
        server = os.environ.get("NOTIFYKIT_BENCH_POSTGRES")
        if server:
            stores[postgres] = stack.enter_context(_postgres_schema(server))
            variants[postgres] = (env.sizes.wakeups, "30s")
            latencies[postgres] = []
        kits: dict[str, Any] = {}
        workers: dict[str, subprocess.Popen[bytes]] = {}
        for index, (variant, (_, poll)) in enumerate(variants.items()):
            config = env.config(store=stores[variant])
            config["worker"] = {"poll": poll}
            path = env.scratch / f"wakeup-{index}.json"
            path.write_text(json.dumps(config))  # JSON is YAML
            kits[variant] = stack.enter_context(notifier(config))
            kits[variant].ledger.counts()  # created and migrated before its worker starts
            command = ["-m", "notifykit", "--config", str(path), "worker"]
            if variant in patched:
                command = ["-c", PATCHED_WORKER, patched[variant], *command[2:]]
            log = (env.scratch / f"wakeup-{index}.log").open("wb")
            workers[variant] = stack.enter_context(
                _worker_process([sys.executable, *command], log, environ)
            )
            log.close()
        env.sim.reset()
        submitted: list[tuple[str, float]] = []

        def page(variant: str, *, timeout: float = 60.0) -> None:
            kit = kits[variant]
            submission = kit.submit("db.down", to="alice", data={"host": "db1"})
            submitted.append((variant, time.monotonic()))
            delivery = submission.deliveries[0]
            deadline = time.monotonic() + timeout
            while kit.ledger.deliveries([delivery])[0].state.value == "pending":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: {variant}: nothing sent in {timeout:g} s")
                time.sleep(0.005)
            while kit.ledger.deliveries([delivery])[0].state.value == "sending":
                time.sleep(0.005)  # recorded, so the worker is idle again

        for variant in variants:  # warm-up: each worker started, imported, sent once
            page(variant)
        order = [v for v, (count, _) in variants.items() for _ in range(count)]
        chance.shuffle(order)
        for variant in order:
            time.sleep(chance.uniform(0.02, 0.07))
            page(variant)
        arrivals = env.sim.arrivals()
        env.arrived(name, "all variants", len(submitted))
        if len(arrivals) != len(submitted):
            raise RuntimeError(f"{name}: {len(submitted)} submits, {len(arrivals)} requests")
        pairs = zip(submitted[len(variants) :], arrivals[len(variants) :], strict=True)
        for (variant, at), arrived in pairs:
            latencies[variant].append(arrived - at)
        idle = _idle_cpu({v: w.pid for v, w in workers.items()}, env.sizes.idle_seconds)
        for variant, worker in workers.items():
            worker.send_signal(signal.SIGTERM)
            env.results.check(name, f"{variant}: worker exit status", 0, worker.wait(30))
    verdicts = []
    for variant, values in latencies.items():
        values.sort()
        p99 = values[math.ceil(0.99 * len(values)) - 1]
        env.results.rows.append(Row(name, f"{variant}: p50", values))
        target = 0.100 if variant in targeted else None
        env.results.rows.append(
            Row(name, f"{variant}: p99", [p99], target=target, target_is_ratio=False)
        )
        if variant in idle:
            env.results.rows.append(
                Row(
                    name,
                    f"{variant}: idle CPU",
                    [idle[variant]],
                    unit="% of a core",
                    target=1.0 if variant in targeted else None,
                    target_is_ratio=False,
                    note=f"{env.sizes.idle_seconds:g} s idle",
                )
            )
        if variant in targeted:
            verdict = f"p99 {p99 * 1000:.1f} ms {'OK' if p99 <= 0.100 else 'SHORT'}"
            if variant in idle:
                cpu = idle[variant]
                verdict += f", idle CPU {cpu:.2f}% {'OK' if cpu <= 1.0 else 'SHORT'}"
            verdicts.append(f"{variant.split(' (')[0]}: {verdict}")
    env.results.notes[f"{name} (p99 <= 100 ms, idle CPU <= 1%)"] = "; ".join(verdicts)


@contextmanager
def _worker_process(
    command: list[str], log: Any, environ: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process, killed at the end if it is still running."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=environ
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Percent of one core each process used (user + system, all its threads) over the same
    ``seconds``, from ``/proc/<pid>/stat``; empty where there is no ``/proc``."""

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    if not all(Path(f"/proc/{pid}/stat").exists() for pid in pids.values()):
        return {}
    time.sleep(0.5)  # the last delivery's aftermath (its lease renewal) settles
    started = {variant: cpu(pid) for variant, pid in pids.items()}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    return {v: (cpu(pid) - started[v]) / elapsed * 100 for v, pid in pids.items()}


# -- start-up and text -----------------------------------------------------------------------


def startup(env: Env) -> None:
    """In a fresh interpreter: ``import notifykit`` against a bare interpreter (``python -c
    pass``), wall time of the whole process; and the first dry-run ``notify()`` (config loaded,
    channels built, the template rendered and checked, nothing sent), timed inside the process from
    before ``import notifykit``. Targets: import at most 20 ms above the bare interpreter; first
    dry run at most 100 ms (issue 20)."""
    config = env.scratch / "startup.yaml"
    data = env.config()
    data["defaults"]["to"] = ["alice"]
    config.write_text(json.dumps(data))  # JSON is YAML
    script = textwrap.dedent(
        f"""
        import time
        start = time.perf_counter()
        import notifykit
        kit = notifykit.Notifier.from_config({str(config)!r}, dry_run=True)
        report = kit.notify("db.down", data={{"host": "db1"}})
        print(time.perf_counter() - start, report.deliveries[0].state.value)
        """
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYKIT_")}
    # With PYTHONDONTWRITEBYTECODE set (as in this project's sessions) an editable install
    # compiles every module of the project from source in every process; installed from a
    # wheel, or run once without it, a process reads cached bytecode. Both are reported: the
    # cached one from a scratch PYTHONPYCACHEPREFIX, warmed by one run first.
    cached = {k: v for k, v in environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(env.scratch / "pycache")

    def process(*args: str) -> float:
        return timed(
            lambda: subprocess.run(
                [sys.executable, *args], check=True, env=environ, capture_output=True
            )
        )

    def first_dry_run(variables: dict[str, str] = environ) -> float:
        out = subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            env=variables,
            capture_output=True,
            text=True,
        ).stdout.split()
        env.results.check("start-up", "dry run pending", "pending", out[1])
        return float(out[0])

    first_dry_run(cached)  # writes the bytecode cache
    samples = interleave(
        {
            "python -c pass (peer)": lambda: process("-c", "pass"),
            "python -c 'import notifykit'": lambda: process("-c", "import notifykit"),
            "first dry-run notify()": first_dry_run,
            "first dry-run notify(), bytecode cached": lambda: first_dry_run(cached),
        },
        env.sizes.startup_runs,
    )
    bare = statistics_median(samples["python -c pass (peer)"])
    env.results.rows.append(
        Row("start-up", "python -c pass (peer)", samples["python -c pass (peer)"])
    )
    env.results.rows.append(
        Row(
            "start-up",
            "import notifykit, above the bare interpreter",
            [s - bare for s in samples["python -c 'import notifykit'"]],
            target=0.020,
            target_is_ratio=False,
        )
    )
    env.results.rows.append(
        Row(
            "start-up",
            "first dry-run notify()",
            samples["first dry-run notify()"],
            target=0.100,
            target_is_ratio=False,
        )
    )
    env.results.rows.append(
        Row(
            "start-up",
            "first dry-run notify(), bytecode cached",
            samples["first dry-run notify(), bytecode cached"],
            target=0.100,
            target_is_ratio=False,
        )
    )


def statistics_median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def text_checks(env: Env) -> None:
    """Render + encoding + segments + length + DLT check of one SMS, the planner's per-message
    text work (the compiled template cached, as in a Notifier), per second of the thread's CPU
    time: a loop of one thread's Python, which on two cores shared with other processes spends
    much of its wall time waiting for a core (the wall-clock rate is the row's note). Target:
    80,000."""
    from notifykit.india import require_dlt_match
    from notifykit.plan.planner import template_context
    from notifykit.text.sms import analyze_sms, check_length
    from notifykit_exotel.channels import MAX_BODY_CHARS

    n = env.sizes.text_checks
    wall: list[float] = []
    with notifier(env.config()) as kit:
        engine = kit.config.template_engine
        context = template_context("db.down", "error", {"host": "db1"})

        def once() -> float:
            def loop() -> None:
                for _ in range(n):
                    text = engine.render("alert.sms", context)
                    check_length(text, limit=MAX_BODY_CHARS)
                    analyze_sms(text)
                    require_dlt_match(text, DLT_PATTERN)

            started = time.thread_time()
            wall.append(n / timed(loop))
            return n / max(time.thread_time() - started, 1e-9)

        samples = interleave({"render+encoding+segments+DLT": once}, env.sizes.rounds)
        env.results.check(
            "text checks", "renders the alert", BODY, engine.render("alert.sms", context)
        )
    env.results.rows.append(
        Row(
            "text checks",
            "render+encoding+segments+DLT",
            samples["render+encoding+segments+DLT"],
            unit="/s",
            target=80_000,
            target_is_ratio=False,
            higher_is_better=True,
            note=f"thread CPU time; wall clock {statistics_median(wall):,.0f}/s",
        )
    )


# -- the status server -------------------------------------------------------------------------

CALLBACK_CLIENTS = 8


def callbacks(env: Env) -> None:
    """Status callbacks per second answered by ``notifykit serve``: the embedded server
    (waitress) against the standard library's threaded ``wsgiref`` server the old serve ran, the
    same app on the same SQLite ledger, each server in a process of its own, 8 clients each
    opening a connection per callback (as a provider does), every callback a real one for a
    delivery in the ledger (a duplicate ``sent``: parsed, recorded as an event, answered 200).
    Target: no slower than the old server."""
    from urllib.parse import urlsplit

    store = env.store("callbacks")
    config = env.config(store=store)
    config["server"] = {"public_url": "http://127.0.0.1:1"}  # callbacks are asked for
    path = env.scratch / "callbacks.yaml"
    path.write_text(json.dumps(config))
    env.sim.reset()
    with notifier(config) as kit:
        report = kit.notify("db.down", data={"host": "db1"}, to=ALICE)
        sid = report.deliveries[0].provider_id
    import sqlite3

    with contextlib.closing(sqlite3.connect(store)) as db:
        [(token,)] = db.execute("SELECT callback_token FROM deliveries").fetchall()
    body = urlencode({"SmsSid": sid, "Status": "sent"}).encode()
    n = env.sizes.callbacks

    def rate(url: str) -> float:
        target = urlsplit(url)
        answered: list[int] = []

        def client(count: int) -> None:
            for _ in range(count):
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                conn.request(
                    "POST",
                    f"/status/{token}",
                    body,
                    {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
                )
                answer = conn.getresponse()
                answer.read()
                answered.append(answer.status)
                conn.close()

        share = n // CALLBACK_CLIENTS
        threads = [threading.Thread(target=client, args=(share,)) for _ in range(CALLBACK_CLIENTS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - started
        assert answered == [200] * (share * CALLBACK_CLIENTS), set(answered)
        return len(answered) / took

    variants = {"embedded (waitress)": "embedded", "old serve (wsgiref, threaded)": "wsgiref"}
    with contextlib.ExitStack() as stack:
        urls = {
            name: stack.enter_context(_callback_server(kind, path))
            for name, kind in variants.items()
        }
        samples = interleave(
            {name: (lambda u=url: rate(u)) for name, url in urls.items()}, env.sizes.rounds
        )
    with notifier(config) as kit:
        [delivery] = kit.report(report.id).deliveries
        env.results.check(
            "status callbacks",
            "every callback recorded",
            len(variants) * env.sizes.rounds * (n // CALLBACK_CLIENTS) * CALLBACK_CLIENTS,
            len(delivery.events),
        )
    env.results.rows.append(
        Row(
            "status callbacks",
            "old serve (wsgiref, threaded)",
            samples["old serve (wsgiref, threaded)"],
            unit="/s",
            higher_is_better=True,
        )
    )
    env.results.rows.append(
        Row(
            "status callbacks",
            "embedded (waitress)",
            samples["embedded (waitress)"],
            unit="/s",
            versus="old serve (wsgiref, threaded)",
            target=1.0,
            higher_is_better=True,
        )
    )


@contextmanager
def _callback_server(kind: str, config: Path) -> Iterator[str]:
    """``python -m bench.callbacks KIND CONFIG`` running: its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.callbacks", kind, str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the {kind} callback server did not start")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


# -- on call --------------------------------------------------------------------------------


def oncall(env: Env) -> None:
    """Who is on call, per second: ``Schedule.who_is_on_call`` on a five-layer schedule in a DST
    zone (weekly, 12h, daily restricted to nights, 3d, daily restricted to business hours; three
    overrides), its layers started in 2020-2022, asked about random moments of 2026-2030 (the
    answer is arithmetic, so the years since the start cost nothing). As many questions as the
    text scenario's checks. Target: 20,000/s (a page asks once)."""
    import random
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from notifykit.oncall import Layer, Override, Schedule
    from notifykit.routing.timeintervals import parse_interval

    zone = "America/New_York"
    nights = parse_interval(
        "nights",
        [
            {
                "times": [
                    {"start_time": "20:00", "end_time": "24:00"},
                    {"start_time": "00:00", "end_time": "08:00"},
                ],
                "location": zone,
            }
        ],
    )
    business = parse_interval(
        "business",
        [
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:00", "end_time": "17:00"}],
                "location": zone,
            }
        ],
    )
    schedule = Schedule(
        "primary",
        (
            Layer("weekly", datetime(2020, 1, 6, 10), ("alice", "bob", "carol", "dan")),
            Layer(timedelta(hours=12), datetime(2020, 1, 6, 8), ("e1", "e2", "e3")),
            Layer("daily", datetime(2020, 1, 6, 20), ("dave", "erin"), (nights,)),
            Layer(timedelta(days=3), datetime(2021, 3, 1), ("f1", "f2")),
            Layer("daily", datetime(2022, 1, 3, 9), ("g1", "g2", "g3"), (business,)),
        ),
        tuple(
            Override("ovr", datetime(2026, 12, 24, 18) + d, datetime(2026, 12, 26, 10) + d)
            for d in (timedelta(0), timedelta(days=90), timedelta(days=400))
        ),
        zone=ZoneInfo(zone),
    )
    rng = random.Random(17)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    moments = [
        base + timedelta(seconds=rng.randrange(5 * 365 * 86400))
        for _ in range(env.sizes.text_checks)
    ]
    env.results.check(
        "on call",
        "who at 2026-12-25 03:00 (the override)",
        "ovr",
        schedule.who_is_on_call(datetime(2026, 12, 25, 3, tzinfo=ZoneInfo(zone))).who,
    )
    env.results.check(
        "on call",
        "who on Monday 2026-12-07 10:00 (business hours, the last layer)",
        4,
        schedule.who_is_on_call(datetime(2026, 12, 7, 10, tzinfo=ZoneInfo(zone))).layer,
    )

    def once() -> float:
        return len(moments) / timed(lambda: [schedule.who_is_on_call(m) for m in moments])

    variant = "who_is_on_call, 5 layers"
    samples = interleave({variant: once}, env.sizes.rounds)
    env.results.rows.append(
        Row(
            "on call",
            variant,
            samples[variant],
            unit="/s",
            target=20_000,
            target_is_ratio=False,
            higher_is_better=True,
        )
    )


SCENARIOS: dict[str, Callable[[Env], None]] = {
    "single": single_sms,
    "routed": routed,
    "broadcast": broadcasts,
    "ride": ride_the_limit,
    "default-limit": default_limit_broadcast,
    "outbox": outbox,
    "drain": worker_drain,
    "memory": memory,
    "startup": startup,
    "text": text_checks,
    "wakeup": wakeup,
    "callbacks": callbacks,
    "oncall": oncall,
}
