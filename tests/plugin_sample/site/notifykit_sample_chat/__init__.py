"""A sample third-party notifykit plugin: a ``chat`` channel that posts each message to a
webhook (a chat room's incoming webhook), as an installed distribution would ship it.

It is laid out like the Exotel plugin: :mod:`.settings` declares its settings once, as types;
:mod:`.channel` is the channel adapter; :mod:`.plugin` is the hook implementations, found through
the ``notifykit`` entry-point group (``sample_chat``). ``tests/plugin_sample`` installs it by
putting ``site/`` (the package and its ``.dist-info``) on ``sys.path``.
"""
