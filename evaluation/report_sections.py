"""Generated sections of the docs: a block between two HTML comments, replaced in place on each run."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, lines: list[str], begin: str, end: str, *, title: str, at_top: bool = False) -> None:
    """Replace the text between ``begin`` and ``end`` in ``path`` with ``lines``; a file without the
    block gets it at the end (or right under its title line with ``at_top``); a missing file starts
    with ``title``."""
    text = path.read_text(encoding="utf-8") if path.exists() else title + "\n"
    block = "\n".join([begin, *lines, end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    elif at_top:
        first, _, body = text.partition("\n")
        text = first + "\n\n" + block + "\n" + body
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
