"""The console's pages: Jinja2 templates with HTML autoescaping (every value is escaped unless a
template says otherwise, and none does), kept here as strings so nothing is built or installed
besides the package. One small inline style sheet; no script."""

from __future__ import annotations

from typing import Any

import jinja2

__all__ = ["render"]

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{ title }} - notifykit</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;padding:0 .8em 2em;line-height:1.4;color:#222}
nav{display:flex;flex-wrap:wrap;gap:.4em 1em;align-items:center;padding:.6em 0;
border-bottom:1px solid #ccc;margin-bottom:.8em}
nav a{font-weight:600}nav .who{margin-left:auto;color:#555}
h1{font-size:1.3em}h2{font-size:1.1em;margin:.2em 0}
.card{border:1px solid #ccc;border-left:6px solid #888;border-radius:6px;padding:.6em .8em;
margin:.8em 0;max-width:46em}
.critical{border-left-color:#c00}.warning{border-left-color:#e80}.info{border-left-color:#08c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em .8em;margin:.4em 0}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
form.inline{display:inline}
button{font-size:1em;padding:.5em 1em;margin:.3em .4em .3em 0;border-radius:6px;
border:1px solid #888;background:#f4f4f4}
button.primary{background:#1a5;color:#fff;border-color:#1a5}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #ddd;vertical-align:top}
.flash{background:#eef8ee;border:1px solid #9c9;padding:.5em;border-radius:6px}
.error{background:#fdeeee;border:1px solid #d99;padding:.5em;border-radius:6px}
input{font-size:1em;padding:.4em;width:100%;max-width:20em;box-sizing:border-box}
label{display:block;margin:.6em 0 .2em}
.muted{color:#666}
select{font-size:1em;padding:.4em}summary{cursor:pointer;margin:.3em 0;color:#555}
@media (max-width:40em){table.stack thead{display:none}
table.stack tr{display:block;border-bottom:1px solid #bbb;padding:.4em 0}
table.stack td{display:grid;grid-template-columns:6.5em minmax(0,1fr);gap:.5em;border:0;
padding:.1em 0;overflow-wrap:anywhere}
table.stack td::before{content:attr(data-label);color:#555}}
</style></head>
<body>
{% if user %}<nav><a href="./">Alerts</a><a href="oncall">On call</a>
<a href="silences">Silences</a><a href="heartbeats">Heartbeats</a><a href="circuits">Circuits</a>
<a href="deliveries">Deliveries</a>
<a href="audit">Audit</a>
<span class="who">{{ user }}</span>
<form class="inline" method="post" action="logout">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Log out</button></form></nav>{% endif %}
{% if flash %}<p class="flash" role="status">{{ flash }}</p>{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<main>{% block main %}{% endblock %}</main>
</body></html>
"""

_LOGIN = """{% extends "base" %}{% block main %}
<h1>notifykit console</h1>
{% if password_login %}
<form method="post" action="login">
<label for="user">User</label>
<input id="user" name="user" autocomplete="username" autocapitalize="none" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button class="primary">Log in</button></p>
</form>
{% else %}
<p>Log in through the reverse proxy that serves this console.</p>
{% endif %}
{% endblock %}"""

_ALERTS = """{% extends "base" %}{% block main %}
<h1>Open alerts ({{ alerts|length }})</h1>
{% for a in alerts %}
<section class="card {{ a.severity }}" data-key="{{ a.key }}">
<h2>{{ a.event }} <span class="muted">{{ a.severity }}</span></h2>
<dl>
<dt>Key</dt><dd>{{ a.key }}</dd>
<dt>Receiver</dt><dd>{{ a.receiver }}</dd>
<dt>State</dt><dd class="state">{{ a.state }}{% if a.reason %} ({{ a.reason }}){% endif %}</dd>
{% if a.labels %}<dt>Labels</dt><dd>{% for k, v in a.labels %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</dd>{% endif %}
<dt>Since</dt><dd>{{ a.since }}</dd>
{% if a.escalation %}
<dt>Escalation</dt><dd>{{ a.escalation.policy }}: step {{ a.escalation.step or "none sent yet" }}</dd>
<dt>Next step</dt><dd>{% if a.escalation.next_step %}{{ a.escalation.next_step }} due {{ a.next_due }}{% else %}none{% endif %}</dd>
{% if a.escalation.acked_by %}<dt>Acknowledged by</dt><dd>{{ a.escalation.acked_by }}</dd>{% endif %}
{% else %}
<dt>Escalation</dt><dd>none</dd>
{% endif %}
</dl>
{% if a.can_ack %}<form class="inline" method="post" action="ack">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="key" value="{{ a.group }}">
<button class="primary">Acknowledge</button>
<button name="snooze" value="1800">Snooze 30 min</button></form>{% endif %}
<form class="inline" method="post" action="resolve">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="key" value="{{ a.key }}">
<button>Resolve</button></form>
<details><summary>Silence</summary>
<form method="post" action="silence">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="key" value="{{ a.key }}">
<p class="muted">Mutes {{ a.matchers }}</p>
<label for="for-{{ loop.index }}">For</label>
<select id="for-{{ loop.index }}" name="duration">{% for value, text in durations %}<option value="{{ value }}">{{ text }}</option>{% endfor %}</select>
<label for="why-{{ loop.index }}">Why</label>
<input id="why-{{ loop.index }}" name="comment" required maxlength="500">
<p><button>Silence</button></p>
</form></details>
</section>
{% else %}
<p>No open alerts.</p>
{% endfor %}
{% endblock %}"""

_DELIVERIES = """{% extends "base" %}{% block main %}
<h1>Recent deliveries</h1>
<div class="scroll"><table class="stack">
<thead><tr><th>When</th><th>Alert</th><th>Channel</th><th>To</th><th>State</th>
<th>Provider id</th><th>Detail</th></tr></thead>
<tbody>
{% for d in deliveries %}
<tr><td data-label="When">{{ d.when }}</td>
<td data-label="Alert"><span>{{ d.event }}{% if d.step %} <span class="muted">step {{ d.step }}</span>{% endif %}{% if d.receiver %}<br><span class="muted">{{ d.receiver }}</span>{% endif %}</span></td>
<td data-label="Channel">{{ d.channel }}</td>
<td data-label="To"><span>{{ d.recipient }}{% if d.address %}<br><span class="muted">{{ d.address }}</span>{% endif %}</span></td>
<td data-label="State" class="state">{{ d.state }}</td>
<td data-label="Provider id">{{ d.provider_id or "" }}</td>
<td data-label="Detail">{{ d.detail or "" }}</td></tr>
{% else %}
<tr><td colspan="7">Nothing sent yet.</td></tr>
{% endfor %}
</tbody></table></div>
{% endblock %}"""

_AUDIT = """{% extends "base" %}{% block main %}
<h1>Audit trail</h1>
<div class="scroll"><table class="stack">
<thead><tr><th>When</th><th>Action</th><th>Through</th><th>Who</th><th>What</th><th>Detail</th></tr></thead>
<tbody>
{% for r in records %}
<tr><td data-label="When">{{ r.when }}</td><td data-label="Action">{{ r.action }}</td>
<td data-label="Through">{{ r.path }}</td><td data-label="Who">{{ r.actor or "" }}</td>
<td data-label="What"><span>{% for k, v in r.target %}{{ k }}={{ v }}{% if not loop.last %}<br>{% endif %}{% endfor %}</span></td>
<td data-label="Detail">{{ r.detail or "" }}</td></tr>
{% else %}
<tr><td colspan="6">No actions recorded yet.</td></tr>
{% endfor %}
</tbody></table></div>
{% endblock %}"""

_SILENCES = """{% extends "base" %}{% block main %}
<h1>Silences ({{ silences|length }})</h1>
<p class="muted">Active and coming silences; make one from an alert's Silence button, or with
notifykit silence add.</p>
{% for s in silences %}
<section class="card" data-silence="{{ s.id }}">
<h2>{{ s.matchers }}</h2>
<dl>
<dt>State</dt><dd>{{ s.state }}</dd>
<dt>From</dt><dd>{{ s.starts }}</dd>
<dt>Until</dt><dd>{{ s.ends }}</dd>
<dt>Why</dt><dd>{{ s.comment }}</dd>
<dt>By</dt><dd>{{ s.created_by or "" }}</dd>
<dt>Id</dt><dd>{{ s.id }}</dd>
</dl>
<form class="inline" method="post" action="expire">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="id" value="{{ s.id }}">
<button>Expire now</button></form>
</section>
{% else %}
<p>No silences.</p>
{% endfor %}
{% endblock %}"""

_ONCALL = """{% extends "base" %}{% block main %}
<h1>On call</h1>
{% for s in schedules %}
<section class="card" data-schedule="{{ s.name }}">
<h2>{{ s.name }}</h2>
<p>Now: <strong class="now">{{ s.now }}</strong>{% if s.how %} <span class="muted">({{ s.how }})</span>{% endif %}</p>
<div class="scroll"><table class="stack">
<thead><tr><th>Who</th><th>From</th><th>Until</th></tr></thead>
<tbody>
{% for shift in s.shifts %}
<tr><td data-label="Who">{{ shift.who }}</td><td data-label="From">{{ shift.start }}</td>
<td data-label="Until">{{ shift.end }}</td></tr>
{% else %}
<tr><td colspan="3">Nobody on call in the next 7 days.</td></tr>
{% endfor %}
</tbody></table></div>
</section>
{% else %}
<p>The config has no schedules: section.</p>
{% endfor %}
{% endblock %}"""

_HEARTBEATS = """{% extends "base" %}{% block main %}
<h1>Heartbeats ({{ heartbeats|length }})</h1>
<div class="scroll"><table class="stack">
<thead><tr><th>Name</th><th>State</th><th>Last beat</th><th>Due</th><th>Missed after</th>
<th>Beats</th></tr></thead>
<tbody>
{% for h in heartbeats %}
<tr data-heartbeat="{{ h.name }}"><td data-label="Name">{{ h.name }}</td>
<td data-label="State" class="state">{{ h.state }}</td>
<td data-label="Last beat">{{ h.last_beat or "never" }}</td><td data-label="Due">{{ h.due }}</td>
<td data-label="Missed after">{{ h.deadline }}</td><td data-label="Beats">{{ h.beats }}</td></tr>
{% else %}
<tr><td colspan="6">The config has no heartbeats: section.</td></tr>
{% endfor %}
</tbody></table></div>
{% endblock %}"""

_CIRCUITS = """{% extends "base" %}{% block main %}
<h1>Circuits ({{ circuits|length }})</h1>
{% if not enabled %}<p>The circuit breaker is off (<code>circuit: {enabled: false}</code>).</p>{% endif %}
<p>A provider account's circuit opens after too many provider-side failures within
{{ window }}: nothing is sent through the account until one probe, after the cool-down, goes
through.</p>
<div class="scroll"><table class="stack">
<thead><tr><th>Account</th><th>State</th><th>Failures</th><th>Counted since</th><th>Opened</th>
<th>Probe</th><th>Last error</th></tr></thead>
<tbody>
{% for c in circuits %}
<tr data-circuit="{{ c.key }}"><td data-label="Account">{{ c.key }}</td>
<td data-label="State" class="state">{{ c.state }}</td>
<td data-label="Failures">{{ c.failures }}</td><td data-label="Counted since">{{ c.since }}</td>
<td data-label="Opened">{{ c.opened }}</td><td data-label="Probe">{{ c.probe }}</td>
<td data-label="Last error">{{ c.last_error }}</td></tr>
{% else %}
<tr><td colspan="7">No provider account has failed: every circuit is closed.</td></tr>
{% endfor %}
</tbody></table></div>
{% endblock %}"""

_MESSAGE = """{% extends "base" %}{% block main %}
<h1>{{ title }}</h1><p>{{ message }}</p><p><a href="{{ back }}">Back</a></p>
{% endblock %}"""

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(
        {
            "base": _BASE,
            "login": _LOGIN,
            "alerts": _ALERTS,
            "deliveries": _DELIVERIES,
            "audit": _AUDIT,
            "silences": _SILENCES,
            "oncall": _ONCALL,
            "heartbeats": _HEARTBEATS,
            "circuits": _CIRCUITS,
            "message": _MESSAGE,
        }
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render(template: str, **context: Any) -> str:
    """A page: ``template`` (``login``, ``alerts``, ``oncall``, ``silences``, ``heartbeats``,
    ``circuits``, ``deliveries``, ``audit``, ``message``)
    rendered with ``context`` (``title``, ``user``, ``csrf``, ``flash`` and ``error`` are
    optional)."""
    base = {"user": None, "csrf": "", "flash": None, "error": None, "title": "notifykit"}
    return _ENV.get_template(template).render({**base, **context})
