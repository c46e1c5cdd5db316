"""A Twilio channel plugin for notifykit: SMS (``twilio-sms``) and voice calls (``twilio-call``)
through the official ``twilio`` package, a keypress acknowledgement done the Twilio way (TwiML
``<Say>`` + ``<Gather>`` served by ``notifykit serve``, every request's ``X-Twilio-Signature``
verified), and every answer mapped to a delivery state that never pages a person twice.

:mod:`notifykit_twilio.plugin` registers the ``twilio`` provider and both channel types
(loaded through the ``notifykit`` entry-point group as ``twilio``, like any third-party plugin;
block it with ``NOTIFYKIT_DISABLE_PLUGINS=twilio``); :mod:`.settings` declares their keys;
:mod:`.client` drives the ``twilio`` package over :mod:`notifykit.http`; :mod:`.channel` turns
its answers into delivery results; :mod:`.callbacks` reads status callbacks; :mod:`.voice`
serves the TwiML and the keypress; :mod:`.fake` is a local Twilio with faults that can also play
a call, for tests and ``--sandbox``; :mod:`.doctor` checks the config. See
``docs/plugins/twilio.md``.
"""

from __future__ import annotations
