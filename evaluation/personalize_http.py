"""Personalisation through the HTTP API on the DSP test split (not part of the test gate).

For each DSP user type d (academy, business, entertainment, literature) and each of
``--users`` fresh users: post ``--labels`` preference labels drawn from *train*-split
queries (d's response preferred over one of the other four), then score the five responses
of every *test* query as that user. Reported: how often d's own response ranks first,
against the prior (no user) and chance (1/5).

    .venv/bin/python -m evaluation.personalize_http                  # starts a server on checkpoints/default
    .venv/bin/python -m evaluation.personalize_http --url http://127.0.0.1:8000   # an already running server
    MICRO_ETA=2 .venv/bin/python -m evaluation.personalize_http --score-on validation   # tune tau/eta off the test split

``--score-on validation`` scores on the train split's validation slice (model.data.is_validation)
and draws labels from the rest of train: use it to choose tau/eta; report the test figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from model.data import DSP_DOMAINS, DSP_RESPONSE_KEYS, RankingItem, dsp_pairs_of, is_validation, load_dsp_items
from model.paths import DEFAULT_CHECKPOINT
from service.harness import ServiceProcess


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running service; default: start one on --checkpoint")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--redis-url", default=os.environ.get("MICRO_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--labels", type=int, default=10, help="labels each user posts before scoring")
    p.add_argument("--users", type=int, default=3, help="fresh users per type (different label draws)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=8, help="score requests in flight")
    p.add_argument("--score-on", choices=("test", "validation"), default="test",
                   help="score the test split, or the validation slice of train (for tuning)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args(argv)


# ---- a server of our own -----------------------------------------------------------------
def own_server(args: argparse.Namespace, log_path: Path) -> ServiceProcess:
    """A service on --checkpoint (service/harness.py); MICRO_* variables set here (MICRO_ETA=2)
    reach it, the flags win over them."""
    inherited = {k.removeprefix("MICRO_").lower(): v for k, v in os.environ.items() if k.startswith("MICRO_")}
    return ServiceProcess(log_path, **{**inherited, "checkpoint": args.checkpoint, "redis_url": args.redis_url,
                                       "log_level": "WARNING", "key_prefix": f"eval-{uuid.uuid4().hex[:8]}"})


# ---- the measurement ---------------------------------------------------------------------
async def top1_of(client: httpx.AsyncClient, items: list[RankingItem], user: str | None, limit: asyncio.Semaphore) -> list[str]:
    """For each test query: the response key ranked first."""

    async def one(item: RankingItem) -> str:
        body: dict = {"prompt": item.prompt, "responses": [item.responses[k] for k in DSP_RESPONSE_KEYS]}
        if user:
            body["user_id"] = user
        async with limit:
            reply = await client.post("/v1/score", json=body)
        reply.raise_for_status()
        return DSP_RESPONSE_KEYS[reply.json()["ranking"][0]]

    return await asyncio.gather(*(one(item) for item in items))


async def teach(client: httpx.AsyncClient, user: str, domain: str, train: list[RankingItem], n: int,
                rng: random.Random) -> None:
    for item in rng.sample(train, n):
        pair = rng.choice(dsp_pairs_of(item, domain))
        reply = await client.post("/v1/feedback", json={
            "user_id": user, "prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected,
            "feedback_id": f"{user}-{uuid.uuid4().hex[:8]}"})
        reply.raise_for_status()


async def measure(url: str, args: argparse.Namespace) -> dict:
    train, test = load_dsp_items(split="train"), load_dsp_items(split="test")
    if args.score_on == "validation":
        test = [item for item in train if is_validation(item.prompt)]
        train = [item for item in train if not is_validation(item.prompt)]
    limit = asyncio.Semaphore(args.concurrency)
    rng = random.Random(args.seed)
    out: dict = {"split": args.score_on, "test_queries": len(test), "labels": args.labels,
                 "users_per_type": args.users, "types": {}}
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        prior = await top1_of(client, test, None, limit)
        for domain in DSP_DOMAINS:
            rates = []
            for _ in range(args.users):
                user = f"eval-{domain}-{uuid.uuid4().hex[:10]}"
                await teach(client, user, domain, train, args.labels, rng)
                top = await top1_of(client, test, user, limit)
                rates.append(sum(t == domain for t in top) / len(test))
                await client.delete(f"/v1/users/{user}")
            out["types"][domain] = {
                "prior_top1": sum(t == domain for t in prior) / len(test),
                "personal_top1": statistics.mean(rates),
                "personal_top1_sd": statistics.stdev(rates) if len(rates) > 1 else 0.0,
            }
        out["seconds"] = round(time.perf_counter() - started, 1)
        card = (await client.get("/v1/model")).json()
        out["model"], out["routing"] = card["model_version"], card["routing"]
    return out


def table(result: dict) -> str:
    lines = [
        (f"DSP {result['split']} split: {result['test_queries']} queries x 5 responses; each user posts "
         f"{result['labels']} train-split labels; {result['users_per_type']} users per type; "
         f"model {result['model']}; routing {result['routing']}"),
        "",
        "| user type | prior top-1 | personalised top-1 (mean ± sd) | chance |",
        "|---|---|---|---|",
    ]
    for domain, r in result["types"].items():
        lines.append(f"| {domain} | {r['prior_top1']:.3f} | {r['personal_top1']:.3f} ± {r['personal_top1_sd']:.3f} | 0.200 |")
    rows = list(result["types"].values())
    lines.append(f"| **mean** | {statistics.mean(r['prior_top1'] for r in rows):.3f} | "
                 f"{statistics.mean(r['personal_top1'] for r in rows):.3f} | 0.200 |")
    lines.append(f"\n({result['seconds']} s through the API)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.url is not None:
        result = asyncio.run(measure(args.url.rstrip("/"), args))
    else:
        with tempfile.TemporaryDirectory(prefix="personalize-http-") as logs, \
                own_server(args, Path(logs) / "service.log") as service:
            result = asyncio.run(measure(service.url, args))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
