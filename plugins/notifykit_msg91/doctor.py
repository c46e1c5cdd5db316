"""``notifykit doctor``'s check for the ``msg91-sms`` channel: India's DLT rules
(:mod:`notifykit.india`, the rules the Exotel plugin applies) for every template an MSG91
channel sends, read from the config and the templates' source; nothing is sent or asked.

This module is a plugin of its own (its :func:`register_checks`): the ``msg91`` plugin does not
register it yet, since every check registered appears in every ``doctor`` run's list of checks
(the documented outputs list them). Load it with ``get_plugin_manager(plugins=[doctor])`` or an
entry point of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from notifykit.checks import CheckContext, Finding
from notifykit.errors import NotifykitError
from notifykit_msg91.plugin import CHECKS as CHECKS  # declared where the plugin registers them

__all__ = ["CHECKS", "SMS_TYPE", "check_dlt"]

SMS_TYPE = "msg91-sms"


def check_dlt(ctx: CheckContext) -> Iterator[Finding]:
    """Each template an ``msg91-sms`` channel sends: its DLT template id (required), its
    registered text (``dlt_pattern``: without it nothing checks the body before the
    operators), its variables against DLT's rules, and the links it carries."""
    import jinja2

    from notifykit.india import DLT_LINK_RULE, dlt_template_issues, find_links, link_host
    from notifykit.text.outline import outline

    config = ctx.config
    engine = config.template_engine
    checked: set[str] = set()
    for use in ctx.uses():
        if use.channel_type != SMS_TYPE or use.template in checked:
            continue
        checked.add(use.template)
        name = f"{use.template}.sms"
        if not engine.exists(name):
            continue  # a problem of the config itself: config check reports it
        settings = config.template_settings(use.template)
        template_id, pattern = settings.get("dlt_template_id"), settings.get("dlt_pattern")
        where = f"templates.{use.template}" if use.template in config.templates else use.path
        sent = f"{name}, which channel {use.channel} sends through MSG91 ({use.path}),"
        if not template_id:
            yield ctx.finding(
                "error",
                where,
                f"{sent} has no dlt_template_id: the msg91-sms channel refuses to send it "
                "(operators block an SMS without its DLT template); register its text on the "
                f"DLT platform and set templates.{use.template}.dlt_template_id",
            )
        if not pattern:
            yield ctx.finding(
                "warning",
                where,
                f"{sent} has no dlt_pattern, so nothing checks its text against the registered "
                "one before the operators do; copy the registered text from the DLT platform "
                f"into templates.{use.template}.dlt_pattern",
            )
        try:
            shape = outline(engine, name)
        except (NotifykitError, jinja2.TemplateError):
            continue
        label = f"{name} ({engine.locate(name)})"
        for issue in dlt_template_issues(shape, pattern, label):
            yield ctx.finding(issue.severity, where, issue.message)
        texts = [*shape.texts(), *([pattern] if pattern else [])]
        for link in find_links(texts):
            yield ctx.finding(
                "warning",
                where,
                f"{sent} carries a link to {link_host(link)} ({link}): {DLT_LINK_RULE}; "
                "whitelist it on your DLT portal",
            )
