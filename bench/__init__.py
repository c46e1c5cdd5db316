"""notifykit's benchmark: ``python -m bench`` (``--quick``, ``--json``).

Each scenario in :mod:`bench.scenarios` measures one row of issue 9 against its peer (a bare
``requests.Session``, stdlib ``http.client``, Apprise's ``exotel://`` plugin, or the minimum a rate
limit allows) in the same run, against the project's simulator in its own process
(:mod:`bench.harness`). See docs/performance.md for what the numbers mean.
"""
