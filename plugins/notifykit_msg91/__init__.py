"""An MSG91 SMS channel for notifykit (India): every SMS checked against its DLT template
(:mod:`notifykit.india`) before one request carries it to MSG91 with its DLT template id and
entity id, and every answer mapped to a delivery state that never pages a person twice.

:mod:`notifykit_msg91.plugin` registers the ``msg91`` provider and the ``msg91-sms`` channel type
(loaded through the ``notifykit`` entry-point group as ``msg91``, like any third-party plugin;
block it with ``NOTIFYKIT_DISABLE_PLUGINS=msg91``); :mod:`.settings` declares their keys;
:mod:`.client` speaks MSG91's API on :mod:`notifykit.http`; :mod:`.channel` turns its answers
into delivery results; :mod:`.fake` is a local MSG91 with faults, for tests and ``--sandbox``;
:mod:`.doctor` checks the config's templates. See ``docs/plugins/msg91.md``.
"""

from __future__ import annotations
