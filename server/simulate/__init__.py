"""Offline simulation of labeling campaigns against an oracle, through the server's own loop.

``alloop simulate`` and ``scripts/bench_label_efficiency.py`` build on these modules:
:mod:`~server.simulate.runner` (one campaign in a temporary store), :mod:`~server.simulate.grid`
(strategies x seeds x batch sizes over processes), :mod:`~server.simulate.datasets` (the
catalog and user files), :mod:`~server.simulate.peers` (modAL's and small-text's loops on the
same protocol), :mod:`~server.simulate.metrics` and :mod:`~server.simulate.summary` (AUBC,
labels to target, savings with confidence intervals), :mod:`~server.simulate.forecast` (the
learning-curve forecast, also served live) and :mod:`~server.simulate.report` (files and plots).
"""
