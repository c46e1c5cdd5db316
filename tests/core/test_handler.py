"""NotifyHandler: log records become notifications; it never raises and never loops."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from notifykit import NotifyHandler, hookimpl
from notifykit.handler import severity_for_level
from notifykit.report import Delivery, Report

from .conftest import BASIC, RecorderPlugin


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("nk.test.app")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (logging.DEBUG, "info"),
        (logging.INFO, "info"),
        (logging.WARNING, "warning"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "critical"),
        (logging.CRITICAL + 10, "critical"),
    ],
)
def test_severity_for_level(level, severity):
    assert severity_for_level(level) == severity


def test_records_at_or_above_the_level_notify(make_notifier, recorder: RecorderPlugin, logger):
    kit = make_notifier(BASIC)
    handler = NotifyHandler(logging.ERROR, notifier=kit, to=["oncall"])
    logger.addHandler(handler)

    logger.warning("not important")
    assert recorder.channels["rec"].batches == []

    try:
        raise ValueError("disk on fire")
    except ValueError:
        logger.exception("payments %s", "down")
    [(message, recipients)] = recorder.channels["rec"].batches
    assert message.event == "log.error" and message.severity == "error"
    assert message.data["message"] == "payments down: ValueError: disk on fire"
    assert message.data["exception"] == "ValueError: disk on fire"
    assert message.data["logger"] == "nk.test.app"
    assert "ValueError: disk on fire" in message.data["exc_text"]
    assert message.text == "ERROR log.error: payments down: ValueError: disk on fire"
    assert [r.name for r in recipients] == ["alice", "bob"]
    assert handler.last_report is not None and handler.last_report.ok


def test_fixed_event_template_and_channels(make_notifier, recorder, logger):
    kit = make_notifier(BASIC)
    reports: list[Report] = []
    logger.addHandler(
        NotifyHandler(
            logging.CRITICAL,
            notifier=kit,
            event="app.{name}.crash",
            to="carol",
            channels=["rec"],
            data={"service": "payments"},
            on_report=reports.append,
        )
    )
    logger.critical("boom")
    message = recorder.channels["rec"].batches[0][0]
    assert message.event == "app.nk.test.app.crash" and message.severity == "critical"
    assert message.data["service"] == "payments"
    assert len(reports) == 1 and reports[0].ok


def test_errors_go_to_handle_error_never_to_the_caller(make_notifier, logger, monkeypatch):
    kit = make_notifier(BASIC)
    handled: list[logging.LogRecord] = []
    handler = NotifyHandler(notifier=kit, to=["nobody"])
    monkeypatch.setattr(handler, "handleError", handled.append)
    logger.addHandler(handler)
    logger.error("x")  # RecipientError inside: must not propagate
    assert len(handled) == 1


def test_an_undelivered_notification_is_reported_through_handle_error(
    make_notifier, recorder, logger, monkeypatch
):
    kit = make_notifier(BASIC)
    recorder.channels["rec"].fail = {"alice"}
    handled: list[logging.LogRecord] = []
    handler = NotifyHandler(notifier=kit, to="alice")
    monkeypatch.setattr(handler, "handleError", handled.append)
    logger.addHandler(handler)
    logger.error("x")
    assert len(handled) == 1 and handler.last_report is not None
    assert not handler.last_report.ok


def test_logging_from_inside_a_notification_does_not_recurse(make_notifier, recorder, logger):
    """A hook logs an error on the same logger while the handler is notifying: one notification."""

    class LoudHook:
        @hookimpl
        def after_delivery(self, delivery: Delivery) -> None:
            logger.error("delivery %s done", delivery.state)

    kit = make_notifier(BASIC, LoudHook())
    logger.addHandler(NotifyHandler(notifier=kit, to="alice"))
    logger.error("first")
    assert len(recorder.channels["rec"].batches) == 1


def test_without_config_the_handler_still_does_not_raise(tmp_path, monkeypatch, logger):
    from notifykit.notifier import reset

    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    reset()
    handled: list[logging.LogRecord] = []
    handler = NotifyHandler()
    monkeypatch.setattr(handler, "handleError", handled.append)
    logger.addHandler(handler)
    logger.error("x")
    assert len(handled) == 1


def test_notifykit_own_records_are_ignored(make_notifier, recorder, caplog):
    kit = make_notifier(BASIC)
    recorder.channels["rec"].fail = {"alice"}
    root = logging.getLogger()
    handler = NotifyHandler(logging.WARNING, notifier=kit, to="bob")
    root.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="notifykit"):
            report = kit.notify("e", to="alice")  # fails: notifykit.deliveries logs a WARNING
        assert not report.ok
        assert "e (warning): 1 delivery, 1 failed" in caplog.text
        assert len(recorder.channels["rec"].batches) == 1  # the warning paged no one
    finally:
        root.removeHandler(handler)


def _record(logger: logging.Logger, handler: NotifyHandler, log: Callable[[], None]) -> dict:
    """The template data ``handler`` makes of the record ``log()`` logs."""
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(capture)
    try:
        log()
    finally:
        logger.removeHandler(capture)
    [record] = records
    return handler.record_data(record)


def _raise_deep(depth: int) -> None:
    if depth:
        _raise_deep(depth - 1)
    raise RuntimeError("pool exhausted\n  waited 30s for a connection\nretry budget spent")


def test_the_message_is_the_log_message_and_the_exceptions_last_line(logger):
    handler = NotifyHandler()

    def failing() -> None:
        try:
            _raise_deep(40)
        except RuntimeError:
            logger.exception("charge %s failed", "ord-1")

    data = _record(logger, handler, failing)
    assert data["message"] == "charge ord-1 failed: RuntimeError: retry budget spent"
    assert data["exception"] == "RuntimeError: retry budget spent"
    assert data["exc_text"].startswith("Traceback")  # the whole traceback is still there
    assert "pool exhausted" in data["exc_text"]


def test_a_formatter_s_traceback_is_not_repeated_in_the_message(logger):
    handler = NotifyHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def failing() -> None:
        try:
            raise LookupError("no order-7")
        except LookupError:
            logger.exception("lookup failed: no order-7", stack_info=True)

    data = _record(logger, handler, failing)
    # the message quotes the exception already: its type is enough
    assert data["message"] == "nk.test.app: lookup failed: no order-7 (LookupError)"


def test_the_message_is_bounded_to_one_sms_by_default(logger):
    handler = NotifyHandler()

    def failing() -> None:
        try:
            raise ValueError("x" * 500)
        except ValueError:
            logger.exception("y" * 500)

    data = _record(logger, handler, failing)
    message = data["message"]
    assert len(message) <= 160 and ": ValueError: xxx" in message and message.endswith("...")
    unbounded = _record(logger, NotifyHandler(max_message=None), failing)
    assert unbounded["message"] == "y" * 500 + ": ValueError: " + "x" * 500
    quiet = _record(logger, handler, lambda: logger.error("line one\n  line two"))
    assert quiet["message"] == "line one line two" and quiet["exception"] is None


@pytest.mark.parametrize("bad", [0, 5, True])
def test_a_tiny_max_message_is_refused(bad):
    with pytest.raises(ValueError, match="max_message must be at least 20"):
        NotifyHandler(max_message=bad)


def test_help_on_init_shows_the_handlers_parameters_not_loggings():
    import inspect
    import pydoc

    from notifykit import NotifyHandler

    doc = inspect.getdoc(NotifyHandler.__init__) or ""
    assert "Initializes the instance" not in doc  # logging.Handler.__init__'s, inherited
    for name in inspect.signature(NotifyHandler.__init__).parameters:
        if name != "self":
            assert f":param {name}:" in doc, name
    assert "Sends a notification for each log record" in (NotifyHandler.__doc__ or "")
    assert "Initializes the instance" not in pydoc.render_doc(
        NotifyHandler, renderer=pydoc.plaintext
    )
