"""Offline evaluation CLI.

    python -m model.evaluate stage1 [--heads-sweep 2,4,6,8,10] [train options]   stage-1 table -> docs/results.md
    python -m model.evaluate curves [--orders 10] [--write-checkpoint]           learning curves -> docs/personalization.md
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"stage1": "model.stage1_report", "curves": "model.curves_report"}
    if not argv or argv[0] not in commands:
        print(__doc__.strip())
        raise SystemExit(2)
    import importlib

    importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    main()
