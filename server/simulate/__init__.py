"""Offline simulation of labeling campaigns against an oracle, through the server's own loop.

``alloop simulate`` and ``scripts/bench_label_efficiency.py`` build on these modules:
:mod:`~alloop.simulate.runner` (one campaign in a temporary store), :mod:`~alloop.simulate.grid`
(strategies x seeds x batch sizes over processes), :mod:`~alloop.simulate.datasets` (the
catalog and user files), :mod:`~alloop.simulate.peers` (modAL's and small-text's loops on the
same protocol), :mod:`~alloop.simulate.metrics` and :mod:`~alloop.simulate.summary` (AUBC,
labels to target, savings with confidence intervals), :mod:`~alloop.simulate.forecast` (the
learning-curve forecast, also served live) and :mod:`~alloop.simulate.report` (files and plots).
"""
