"""Text: Jinja2 template rendering (:mod:`notifykit.text.templates`), SMS text analysis
(:mod:`notifykit.text.sms`: encoding, segments, length) and the default templates' filters
(:mod:`notifykit.text.summary`). India's DLT rules are :mod:`notifykit.india`."""
