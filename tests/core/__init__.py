"""Tests for the notifykit core (a package so its module names cannot clash with other test dirs)."""
