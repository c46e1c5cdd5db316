"""``notifykit worker --metrics-port``: the worker's Prometheus metrics on a port of its own
(``notifykit serve`` serves them at ``/metrics`` beside its other routes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from notifykit.cli.common import EXIT_FAILED, Failure

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["metrics_address", "serving_metrics"]


def metrics_address(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, int] | None:
    """The click callback of ``--metrics-port [HOST:]PORT``."""
    if value is None:
        return None
    from notifykit.metrics import parse_address

    try:
        return parse_address(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@contextmanager
def serving_metrics(
    kit: Notifier, address: tuple[str, int] | None, command: str = "worker"
) -> Iterator[None]:
    """Serve ``kit``'s metrics at ``address`` (turned on first) while the block runs; nothing
    without an address. A port that cannot be listened on fails the command before it starts
    (exit 2: nothing was sent)."""
    if address is None:
        yield
        return
    from notifykit.metrics import MetricsServer

    host, port = address
    try:
        server = MetricsServer(kit.start_metrics(), host, port)
    except ImportError:
        raise Failure(
            f"notifykit {command}: --metrics-port needs prometheus-client: pip install "
            "prometheus-client",
            EXIT_FAILED,
        ) from None
    except OSError as err:
        import errno

        if err.errno == errno.EADDRINUSE:
            reason = f"port {port} on {host} is already in use (another worker's metrics?)"
        else:
            reason = f"cannot listen on {host}:{port}: {err.strerror or err}"
        raise Failure(
            f"notifykit {command}: metrics: {reason}: pick another with --metrics-port [HOST:]PORT",
            EXIT_FAILED,
        ) from None
    click.echo(f"notifykit {command}: metrics at {server.url}", err=True)
    try:
        yield
    finally:
        server.close()
