"""Configuration: settings declared once, as types (:mod:`notifykit.config.settings`), the one
converter that reads YAML into them (:mod:`notifykit.config.convert`), and the loader of
``notifykit.yaml`` (:mod:`notifykit.config.loader`).

This package imports nothing itself, so a plugin importing :mod:`notifykit.config.settings` does
not load YAML.
"""
