"""The pipeline: the stages an alert or a notification goes through, each small and handed its
collaborators, assembled once by :func:`notifykit.pipeline.builder.build_pipeline`.

entry (``notify()``, ``submit()``, the webhook, the handler, the worker's tick) → route and group
(:mod:`.ingest`) → at each flush (:mod:`.groups`): inhibit, time intervals, silences, dedup
(:mod:`.stages`) → plan (:mod:`.messages`) → store (:mod:`.store`) → dispatch → record → status
(:mod:`.status`) → escalation (:mod:`.escalate`); the due-work tick (:mod:`.due`) and
explanations (:mod:`.explain`). docs/architecture.md draws it."""
