"""Text: Jinja2 template rendering (:mod:`notifykit.text.templates`) and SMS text analysis
(:mod:`notifykit.text.sms`: encoding, segments, DLT pattern matching)."""
