"""Configuration: the YAML loader (:mod:`notifykit.config.loader`) and the small schema language
(:mod:`notifykit.config.schema`) that the core and plugins describe their settings with.

This package imports nothing itself, so a plugin importing :mod:`notifykit.config.schema` does not
load YAML.
"""
