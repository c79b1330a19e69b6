"""A team's own preference file, as a newcomer brings it: TRL rows (prompt, chosen, rejected,
user_id) from three users with distinct tastes, one answering style each:

- ``short``: wants the answer in one sentence;
- ``bullets``: wants it as a bulleted list;
- ``caveats``: wants safety caveats added.

Every prompt is a DSP *train* query answered four ways from its plain ("normal") DSP response:
the three styles and the plain answer itself. A user prefers their own style over each of the
other three (3 pairs per prompt per user). Train-split queries only; DSP is CC BY-NC 4.0,
research and testing use only.

    python -m evaluation.team_file --prompts 72 --out /tmp/team.jsonl     # 648 pairs, 3 users
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from model.data import load_dsp_items

STYLES = ("short", "bullets", "caveats")
CAVEAT = ("Please be careful: this is general information, not professional advice. Check with a qualified "
          "expert before acting on it, and stop if anything seems unsafe.")


def sentences(text: str) -> list[str]:
    """The answer's sentences, list markers ("1.", "-") and fragments dropped."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(\d+[.)]|[-*•])\s*", "", line)
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.strip()) > 3)
    return out


def answers(plain: str) -> dict[str, str]:
    """The four answers to one prompt: each style, and the plain answer."""
    parts = sentences(plain) or [plain.strip()]
    return {
        "short": parts[0],
        "bullets": "\n".join(f"- {s}" for s in parts[:6]),
        "caveats": f"{plain.strip()} {CAVEAT}",
        "plain": plain.strip(),
    }


def team_prompts(first: int, count: int) -> list[tuple[str, dict[str, str]]]:
    """(prompt, answers) for train-split DSP queries ``first .. first + count`` with a usable plain answer."""
    items = [i for i in load_dsp_items(None, split="train") if len(sentences(i.responses["normal"])) >= 2]
    return [(i.prompt, answers(i.responses["normal"])) for i in items[first:first + count]]


def team_rows(prompts: list[tuple[str, dict[str, str]]]) -> list[dict[str, str]]:
    rows = []
    for prompt, options in prompts:
        for user in STYLES:
            rows.extend({"prompt": prompt, "chosen": options[user], "rejected": options[other], "user_id": user}
                        for other in options if other != user)
    return rows


def write_team_file(path: Path, prompts: list[tuple[str, dict[str, str]]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in team_rows(prompts)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.team_file", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=72, help="train-split DSP queries (9 pairs each)")
    p.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = team_rows(team_prompts(0, args.prompts))
    write_team_file(args.out, team_prompts(0, args.prompts))
    print(f"wrote {len(rows)} pairs ({len(STYLES)} users: {', '.join(STYLES)}) to {args.out}")


if __name__ == "__main__":
    main()
