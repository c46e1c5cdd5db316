"""notifykit's Apprise plugin: an ``apprise`` channel that notifies any of Apprise's services
(Telegram, Slack, Discord, ntfy, Pushover, email...) by URL, behind notifykit's routing, ledger,
dedup and escalation.

Laid out like the Exotel plugin: :mod:`.settings` declares the account and channel settings,
:mod:`.client` notifies URLs through Apprise and says honestly what became of each (it imports
nothing from notifykit), :mod:`.channel` turns that into delivery results, :mod:`.plugin` is
the hook implementations (entry point ``apprise``), :mod:`.receiver` the local stand-in for the
services that ``--sandbox`` and the tests use. Needs ``pip install 'notifykit-pager[apprise]'``;
see docs/plugins/apprise.md.
"""
