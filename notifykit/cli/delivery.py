"""The reliable-delivery commands: ``submit``, ``worker``, ``workers``, ``circuits``, ``serve``,
``history`` and ``reconcile``, registered with the others by :mod:`notifykit.cli.app`."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from notifykit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNKNOWN,
    Failure,
    State,
    command,
    notification_options,
    parse_data,
    parse_labels,
    refuse_sandbox,
    say,
    split_list,
)
from notifykit.cli.complete import complete_events
from notifykit.cli.metrics import metrics_address, serving_metrics
from notifykit.cli.output import Result, display_state, report_lines
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.delivery.worker import Worker, WorkerResult
    from notifykit.ledger.circuits import CircuitRow
    from notifykit.model import Report

__all__ = [
    "COMMANDS",
    "circuits",
    "duration",
    "history",
    "reconcile",
    "serve",
    "submit",
    "worker",
    "workers",
]


@command()
@click.argument("event", shell_complete=complete_events)
@notification_options
@click.option("--key", metavar="K", help="Idempotency key: a second submit with it stores nothing.")
def submit(
    event: str,
    severity: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    to: tuple[str, ...],
    channels: tuple[str, ...],
    template: str | None,
    key: str | None,
    labels: tuple[str, ...],
) -> Result:
    """Accept a notification into the ledger for `notifykit worker` to deliver; print its id.

    Takes notify's options. Every mistake (unknown recipient, template error...) is reported
    before anything is stored; when it prints the id, the notification is in the ledger.
    """
    refuse_sandbox(
        "submit", "a submitted notification would be gone when it exits, and no worker would see it"
    )
    payload = parse_data(data, data_json)
    submission = (
        State.current()
        .notifier()
        .submit(
            event,
            severity=severity,
            data=payload,
            to=split_list(to),
            channels=split_list(channels),
            template=template,
            key=key,
            labels=parse_labels(labels),
        )
    )
    note = " (duplicate: already accepted with this key; nothing stored)"
    return Result(submission.to_dict(), [submission.id + (note if submission.duplicate else "")])


def worker_exit_code(result: WorkerResult) -> int:
    """The CLI's usual codes for what a drain did."""
    counts = result.counts
    if counts.get("unknown"):
        return EXIT_UNKNOWN
    if result.ok:
        return EXIT_OK
    succeeded = counts.get("sent", 0) + counts.get("delivered", 0)
    return EXIT_PARTIAL if succeeded else EXIT_FAILED


@contextmanager
def _stop_on_signals(target: Worker) -> Iterator[None]:
    """SIGTERM and SIGINT stop the worker gracefully: it claims nothing more and starts no new
    request, records what its requests in flight answer, and gives back at once what it had
    not started. A second signal stops waiting for the requests in flight (their deliveries
    are recorded unknown); a third acts as usual (Ctrl-C raises, SIGTERM kills)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if not target.stopping:
            target.stop(reason=name)
            say(
                f"notifykit worker: {name}: starting no new request, finishing what is in "
                f"flight ({name} again to stop waiting)"
            )
            return
        target.stop(wait=False, reason=name)
        for signum_, old in previous.items():
            signal.signal(signum_, old)
        say(
            f"notifykit worker: {name} again: not waiting for the requests in flight "
            "(recorded unknown: they may have been sent)"
        )

    previous.update({s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)})
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@command("worker")
@click.option(
    "--threads", type=click.IntRange(1, 256), help="Send threads (default: worker.threads)."
)
@click.option("--drain", is_flag=True, help="Deliver everything due now, then exit.")
@click.option("--node", "name", metavar="NAME", help="This worker's name in the ledger.")
@click.option(
    "--metrics-port",
    "metrics",
    metavar="[HOST:]PORT",
    callback=metrics_address,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (HOST default 127.0.0.1).",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log as a service does (as notifykit serve): a line per record with its time, "
              "level and logger, rate-limited, tracebacks kept; text, or JSON objects for log "
              "shippers. Default: the command line's warning: lines.")  # fmt: skip
def worker(
    threads: int | None,
    drain: bool,
    name: str | None,
    metrics: tuple[str, int] | None,
    log_format: str | None,
) -> Result:
    """Deliver what the ledger holds: claim due deliveries, send them, record every outcome.

    Runs until SIGTERM/SIGINT (no new request starts, the ones in flight finish and are
    recorded, the rest is given back; exit 0; a second signal stops waiting for those in flight:
    recorded unknown, exit 4), or with --drain until nothing is due now; its exit code then says
    how the deliveries it made went. The ledger going away for a while (a database restart) is
    waited out; a ledger that cannot be opened, or fails for good, stops it (exit 2).
    """
    refuse_sandbox("worker", "no earlier submit can have left work in it")
    state = State.current()
    if log_format is not None:
        from notifykit.server.logs import service_handler

        handler = service_handler(state.logs.scrub, log_format=log_format, verbose=state.verbose)
        state.logs.use_handler(handler)
    _real_run_only(state, "worker")
    kit = state.notifier()
    run = kit.worker(threads=threads, name=name)
    state.inform(
        f"notifykit worker {run.name}: {run.threads} threads on {kit.ledger.location}"
        + (" (draining)" if drain else "")
    )
    with serving_metrics(kit, metrics), _stop_on_signals(run):
        result = run.run(drain=drain)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items())) or "nothing"
    code = EXIT_OK
    if drain or (run.abandoned and result.counts.get("unknown")):
        code = worker_exit_code(result)  # 4 when it stopped waiting for requests in flight
    return Result(
        {**result.to_dict(), "name": run.name}, [f"notifykit worker {run.name}: {counts}"], code
    )


@command("workers")
def workers() -> Result:
    """List the workers seen recently on the ledger, with the leases they hold, then the
    provider accounts whose circuit is not closed (notifykit circuits)."""
    refuse_sandbox("workers", "no worker can have reported to it")
    kit = State.current().notifier()
    found = kit.ledger.workers(time.time(), kit.config.worker.lease * 2)
    broken = [row for row in kit.ledger.circuits.rows() if row.state != "closed"]
    return Result(
        [{**w, "started": _iso(w["started"]), "heartbeat": _iso(w["heartbeat"])} for w in found],
        _workers_text(found, broken, kit.config.circuit.window),
    )


def _workers_text(
    found: Sequence[Mapping[str, Any]], broken: Sequence[CircuitRow] = (), window: float = 0.0
) -> Iterator[str]:
    if not found:
        yield "no live workers"
    for w in found:
        seen = _when(w["heartbeat"])
        yield f"{w['name']}  host {w['host']}  pid {w['pid']}  {w['leases']} leases  seen {seen}"
    for row in broken:
        yield "circuit " + _circuit_line(row, window)


@command("circuits")
@click.option("--all", "every", is_flag=True, help="Closed circuits with failures counted too.")
def circuits(every: bool) -> Result:
    """List the provider accounts whose circuit breaker is not closed: open (nothing is sent
    through the account until its probe), or half_open (one probe is out), with the failures
    that opened it and when the probe is due. Exit 1 when one is not closed."""
    refuse_sandbox("circuits", "no send can have failed in it")
    kit = State.current().notifier()
    rows = [
        row
        for row in kit.ledger.circuits.rows()
        if row.state != "closed" or (every and row.failures > 0)
    ]
    window = kit.config.circuit.window
    data = [
        {
            "key": row.key,
            "provider": row.key.partition(":")[0],
            "account": row.key.partition(":")[2],
            "state": row.state,
            "failures": row.failures,
            "window_start": _iso(row.window_start),
            "opened_at": _iso(row.opened_at),
            "reopen_at": _iso(row.reopen_at),
            "probe_owner": row.probe_owner,
            "probe_until": _iso(row.probe_until),
            "last_error": row.last_error,
            "updated": _iso(row.updated),
        }
        for row in rows
    ]
    text = [_circuit_line(row, window) for row in rows] or ["every circuit is closed"]
    return Result(data, text, 1 if any(row.state != "closed" for row in rows) else 0)


def _circuit_line(row: CircuitRow, window: float) -> str:
    failures = f"{row.failures} failure{'s' if row.failures != 1 else ''}"
    if row.state == "open":
        where = f"probe at {_when(row.reopen_at)}"
    elif row.state == "half_open":
        where = f"probe out ({row.probe_owner}) until {_when(row.probe_until)}"
    else:
        where = f"since {_when(row.window_start)}"
    last = f"  last error: {row.last_error}" if row.last_error else ""
    return f"{row.key}  {row.state}  {failures} in {window:g}s  {where}{last}"


@command()
@click.option("--host", help="Listen address (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: server.port, 8025).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text, or as JSON objects for log shippers.")  # fmt: skip
def serve(host: str | None, port: int | None, log_format: str) -> int:
    """Run the status server: receives providers' delivery-status callbacks.

    Callbacks are asked for at server.public_url/status/<token>; a reverse proxy maps
    public_url to this host and port. Heartbeats beat at public_url/heartbeat/<name>/<token>.
    When no worker has been seen for two worker.lease periods, serve raises
    notifykit.worker.down and sends it itself (and runs the due-work tick) until one is back.
    Stops on SIGTERM/SIGINT. Refuses to start when POST /alertmanager would be reachable beyond
    this machine (public_url set, or a host that is not loopback) without server.webhook_token,
    unless the config says webhook_token: none.
    """
    refuse_sandbox("serve", "no delivery a status callback is about can be in it")
    from notifykit.config.delivery import open_webhook_problem
    from notifykit.errors import ConfigError
    from notifykit.server import StatusServer
    from notifykit.server.logs import service_handler
    from notifykit.server.watch import WorkerWatchdog

    state = State.current()
    handler = service_handler(state.logs.scrub, log_format=log_format, verbose=state.verbose)
    state.logs.use_handler(handler, also=("waitress",))
    _real_run_only(state, "serve")
    kit = state.notifier()
    settings = kit.config.server
    host = host or settings.host
    port = settings.port if port is None else port
    exposed = open_webhook_problem(kit.config.source, settings, host)
    if exposed is not None:
        raise ConfigError([exposed])
    try:
        server = StatusServer(kit, host, port)
    except OSError as err:
        raise Failure(_listen_error(host, port, err), EXIT_FAILED) from None
    if not settings.public_url:
        click.echo(
            "notifykit serve: server.public_url is not set, so no status callbacks are asked "
            "for; set it to the https URL that reaches this server",
            err=True,
        )
    click.echo(f"notifykit serve: listening on {server.url}", err=True)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    watchdog = WorkerWatchdog(kit).start()
    try:
        server.serve_forever()
    finally:
        watchdog.stop()
    return EXIT_OK


def _real_run_only(state: Any, command: str) -> None:
    """``worker`` and ``serve`` send (deliveries, alerts routed, escalation steps): a dry run
    cannot, and must not look as if it did nothing while it sends."""
    if state.dry_run:
        raise click.UsageError(
            f"{command} sends notifications, so it cannot be a dry run: drop --dry-run (notify "
            "--dry-run shows what a notification would send)"
        )


def _listen_error(host: str, port: int, err: OSError) -> str:
    """One line for a server that cannot listen: which address, why, and how to fix it. Exit 2
    with it, not 4: nothing was sent, and trying again (elsewhere) is safe."""
    import errno

    if err.errno == errno.EADDRINUSE:
        return (
            f"notifykit serve: port {port} on {host} is already in use (another notifykit "
            "serve, or another program, listens there): stop it, or pick another port with "
            "--port or server.port"
        )
    reason = err.strerror or str(err)
    if err.errno == errno.EACCES and 0 < port < 1024:
        reason += " (ports below 1024 need privileges)"
    return (
        f"notifykit serve: cannot listen on {host}:{port}: {reason}: pick another address with "
        "--host or server.host, or another port with --port or server.port"
    )


@command()
@click.argument("notification_id", required=False, metavar="[ID]")
@click.option("--limit", "-n", type=click.IntRange(0), default=20, show_default=True,
              help="How many notifications (0: all).")  # fmt: skip
@click.option("--state", "state_filter", type=click.Choice([s.value for s in DeliveryState]),
              help="Only notifications with a delivery in this state.")  # fmt: skip
def history(notification_id: str | None, limit: int, state_filter: str | None) -> Result:
    """List notifications in the ledger, newest first; with ID, one with its deliveries, their
    attempts and status events."""
    refuse_sandbox("history", "it holds no earlier notification")
    kit = State.current().notifier()
    if notification_id is not None:
        report = kit.report(notification_id)
        return Result(_history_dict(report, detail=True), _one_text(report))
    reports = kit.history(limit=limit, state=state_filter)
    return Result([_history_dict(r) for r in reports], _history_text(reports, state_filter))


def _history_text(reports: Sequence[Report], state_filter: str | None) -> Iterator[str]:
    if not reports:
        yield "no notifications" + (f" with a {state_filter} delivery" if state_filter else "")
    for report in reports:
        counts = ", ".join(f"{n} {s}" for s, n in report.by_state().items())
        key = f"  key {report.key}" if report.key else ""
        yield (
            f"{report.id}  {_when(report.created)}  {report.event} ({report.severity}){key}"
            f"{_routed(report)}: {counts}"
        )


def _routed(report: Report) -> str:
    """`` -> receiver step 0.1`` for a routed notification (``history`` lines)."""
    if not report.receiver:
        return ""
    return f"  -> {report.receiver}" + (f" step {report.step}" if report.step else "")


def _history_dict(report: Report, *, detail: bool = False) -> dict[str, Any]:
    return {
        "id": report.id,
        "event": report.event,
        "severity": report.severity,
        "key": report.key,
        "created": _iso(report.created),
        "receiver": report.receiver,
        "step": report.step,
        "deliveries": [_with_iso_times(d.to_dict(detail=detail)) for d in report.deliveries],
    }


def _one_text(report: Report) -> Iterator[str]:
    """One notification: its report, then each delivery's attempts and status events."""
    yield (
        f"{report.id}  {_when(report.created)}"
        + (f"  key {report.key}" if report.key else "")
        + _routed(report)
    )
    yield from report_lines(report, show_messages=True)
    for d in report.deliveries:
        if not d.attempt_log and not d.events:
            continue
        yield f"  {d.id} ({d.channel} -> {d.recipient}): {display_state(report, d.state)}"
        for a in d.attempt_log:
            took = f" {1000 * (a.finished - a.started):.0f} ms" if a.finished else ""
            extra = f" {a.provider_id}" if a.provider_id else ""
            extra += f": {a.error}" if a.error else ""
            yield f"    attempt {a.number} {_when(a.started)} {a.outcome}{took}{extra}"
        for e in d.events:
            moved = "" if e.applied else " (no change)"
            detail = f" {e.detail}" if e.detail else ""
            yield f"    {e.source} {_when(e.received)} {e.provider_status}{detail}{moved}"


def duration(value: str | float) -> float:
    """Seconds in a duration option, written as the config writes durations (``90s``, ``10m``,
    ``1h30m``) or as plain seconds: the config's own
    :func:`~notifykit.config.delivery.parse_duration` reads it (click makes the ``ValueError``
    a usage error)."""
    if isinstance(value, int | float):
        return float(value)
    from notifykit.config.delivery import parse_duration

    seconds = parse_duration(value)
    if seconds is None:
        raise ValueError(
            f"{value!r} is not a duration: write it like 90s, 10m, 1h or 1h30m, "
            "or as a number of seconds"
        )
    return seconds


@command()
@click.option("--older-than", type=duration, metavar="DURATION",
              help="Look up deliveries with no news for this long: 90s, 10m, 1h, or seconds "
                   "(default: worker.reconcile_after).")  # fmt: skip
def reconcile(older_than: float | None) -> Result:
    """Ask the providers about deliveries whose status callback never came, and record what
    they say (the worker also does this on a timer)."""
    refuse_sandbox("reconcile", "it holds no earlier delivery to look up")
    changed = State.current().notifier().reconcile(older_than=older_than)
    text = [
        f"reconciled {len(changed)} deliver{'y' if len(changed) == 1 else 'ies'}",
        *(
            f"  {d.id}  {d.channel} -> {d.recipient}: {d.state.value} ({d.provider_status})"
            for d in changed
        ),
    ]
    return Result([_with_iso_times(d.to_dict()) for d in changed], text)


def _local(timestamp: float) -> datetime:
    """An epoch time in this machine's zone (``TZ``), aware, so it prints with its offset."""
    return datetime.fromtimestamp(timestamp, timezone.utc).astimezone()


def _when(timestamp: float | None) -> str:
    """A time for people, with its zone: ``2026-03-02 12:00:00 IST (+05:30)``."""
    if timestamp is None:
        return "-"
    moment = _local(timestamp)
    offset = moment.isoformat()[-6:]  # +05:30
    name = moment.tzname() or ""
    return f"{moment:%Y-%m-%d %H:%M:%S} " + (f"{name} ({offset})" if name.isalpha() else offset)


def _iso(timestamp: float | None) -> str | None:
    """A time for programs: ISO 8601 with the offset (``2026-03-02T12:00:00.250+05:30``)."""
    return None if timestamp is None else _local(timestamp).isoformat(timespec="milliseconds")


def _with_iso_times(delivery: dict[str, Any]) -> dict[str, Any]:
    """A delivery's ``to_dict()`` with its times (and its attempts' and events') in ISO 8601."""
    out = {**delivery, "due": _iso(delivery["due"]), "updated": _iso(delivery["updated"])}
    if "attempt_log" in out:
        out["attempt_log"] = [
            {**a, "started": _iso(a["started"]), "finished": _iso(a["finished"])}
            for a in out["attempt_log"]
        ]
    if "events" in out:
        out["events"] = [{**e, "received": _iso(e["received"])} for e in out["events"]]
    return out


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (submit, worker, workers, circuits, serve, history, reconcile)
