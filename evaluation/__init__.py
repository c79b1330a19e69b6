"""Offline evaluation of the model: reports, learning curves, tables, plots, and the end-to-end
personalization eval over HTTP. Imports model/ (never the reverse) and talks to service/ over
HTTP only; matplotlib is an optional extra (``pip install -e ".[reports]"``).

    python -m evaluation.stage1             stage-1 comparison on the test split -> docs/results.md
    python -m evaluation.curves             personalization learning curves -> docs/personalization.md
    python -m evaluation.personalize_http   the same through a running server's HTTP API
"""
