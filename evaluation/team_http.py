"""A team's file served over HTTP: for each of its users (evaluation/team_file.py: short,
bullets, caveats) a fresh user id labels its own style over another answer on prompts of the
file, and after 0, 1, 3, 5 and 10 labels scores the four answers of *held-out* prompts (DSP
train queries the file does not hold); reported: how often the user's own style ranks first
(chance 0.25), with a 95 % Wilson interval over the held-out prompts.

    python -m evaluation.team_file --prompts 72 --out /tmp/team.jsonl
    python -m model.train --data /tmp/team.jsonl --out /tmp/team_ck          # the README's command
    python -m evaluation.team_http --checkpoint /tmp/team_ck --train-prompts 72 --held-out 30
"""

from __future__ import annotations

import argparse
import math
import tempfile
import uuid
from pathlib import Path

import httpx

from evaluation.service_process import ServiceProcess
from evaluation.team_file import STYLES, team_prompts

Prompts = list[tuple[str, dict[str, str]]]
LABEL_COUNTS = (0, 1, 3, 5, 10)


def own_style_first(http: httpx.Client, user: str, style: str, prompts: Prompts) -> float:
    """Share of ``prompts`` on which ``style`` ranks first among the four answers, scored as ``user``."""
    hits = 0
    for prompt, options in prompts:
        names = list(options)
        answer = http.post("/v1/score", json={"user_id": user, "prompt": prompt, "responses": [options[n] for n in names]})
        answer.raise_for_status()
        hits += names[answer.json()["ranking"][0]] == style
    return hits / len(prompts)


def give_labels(http: httpx.Client, user: str, style: str, prompts: Prompts, start: int, stop: int) -> None:
    """Labels ``start .. stop - 1``: ``style`` preferred over the other answers in turn."""
    for i in range(start, stop):
        prompt, options = prompts[i]
        others = [name for name in options if name != style]
        answer = http.post("/v1/feedback", json={"user_id": user, "feedback_id": f"{user}-{i}", "prompt": prompt,
                                                 "chosen": options[style], "rejected": options[others[i % len(others)]]})
        answer.raise_for_status()
        if not answer.json()["applied"]:
            raise RuntimeError(f"label {i} of {user} was not applied: {answer.text}")


def curves(url: str, label_prompts: Prompts, held_out: Prompts, counts=LABEL_COUNTS) -> dict[str, dict[int, float]]:
    """For each style, a fresh user: own-style top-1 on ``held_out`` after each number of labels."""
    out: dict[str, dict[int, float]] = {}
    with httpx.Client(base_url=url, timeout=120.0) as http:
        for style in STYLES:
            user, given, out[style] = f"team-{style}-{uuid.uuid4().hex[:8]}", 0, {}
            for n in counts:
                give_labels(http, user, style, label_prompts, given, n)
                given = n
                out[style][n] = own_style_first(http, user, style, held_out)
    return out


def wilson(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a proportion observed on ``n`` prompts."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def table(result: dict[str, dict[int, float]], n: int) -> list[str]:
    counts = sorted(next(iter(result.values())))
    lines = ["| user | " + " | ".join(f"{c} labels" for c in counts) + " |", "|---" * (len(counts) + 1) + "|"]
    for style, by_count in result.items():
        cells = [f"{v:.3f} [{lo:.2f}, {hi:.2f}]" for v in by_count.values() for lo, hi in [wilson(v, n)]]
        lines.append(f"| {style} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.team_http", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="trained on python -m evaluation.team_file's file")
    p.add_argument("--train-prompts", type=int, default=72, help="as --prompts of evaluation.team_file (labels come from them)")
    p.add_argument("--held-out", type=int, default=30, help="prompts after those, never in the file, scored")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = p.parse_args(argv)
    label_prompts, held_out = team_prompts(0, args.train_prompts), team_prompts(args.train_prompts, args.held_out)
    with tempfile.TemporaryDirectory(prefix="team-http-") as logs, \
            ServiceProcess(Path(logs) / "service.log", checkpoint=args.checkpoint, redis_url=args.redis_url,
                           key_prefix=f"eval-{uuid.uuid4().hex[:8]}", log_level="WARNING") as service:
        result = curves(service.url, label_prompts, held_out)
    print(f"own style ranked first among 4 on {len(held_out)} held-out prompts (chance 0.25), 95 % Wilson interval:")
    print("\n".join(table(result, len(held_out))))


if __name__ == "__main__":
    main()
