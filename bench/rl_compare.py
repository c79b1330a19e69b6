"""The RL pattern against the server a user would write in ten minutes: OpenRLHF's own remote-RM
client (bench/openrlhf_driver.py, in .venv-rl) sends --samples single-query /get_reward requests
(DSP test-split prompts in a chat template, each with one of its five styled responses),
--concurrency in flight, to the bare per-request server (bench/bare_server.py: fp32 torch, same
backbone, features and head) and to the service as shipped (MICRO_BACKEND=auto) and with
MICRO_BACKEND=torch (fp32), interleaved (bare, defaults, fp32, bare, ...), best of --rounds each.

    .venv/bin/python -m bench.rl_compare --checkpoint /tmp/ckpt-bf16      # ~4 min on 2 cores
    .venv/bin/python -m bench.rl_compare --quick                           # does it run (~1.5 min)

Two prompt shapes: unique (every sample its own prompt) and repeated (a prompt's five samples
share it, as n_samples_per_prompt = 5 would); every round tags its prompts anew, so no text is an
embedding-cache hit from an earlier round. Printed: queries/s, ratio to bare, p50/p99 latency per
request as OpenRLHF sees it; the rewards' agreement with the fp32 bare server on the same texts
and their pairwise accuracy on the DSP pairs per user type; the per-request overhead of the
service (a /get_reward whose texts are all cached, one at a time: everything but the forward);
the checkpoint's recorded accuracy gate for the variant served (model/fit_variant.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench import stats
from bench.cli import delete_keys, parse_with_quick
from bench.workload import CHAT
from evaluation.service_process import ServiceProcess
from model.data import DSP_RESPONSE_KEYS, load_dsp_items
from model.fit_variant import render
from model.paths import DEFAULT_CHECKPOINT, REPO_ROOT
from model.variants import read_variants

QUICK = {"samples": 40, "rounds": 1, "concurrency": 16, "overhead_requests": 10}
DRIVER = REPO_ROOT / "bench" / "openrlhf_driver.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--redis-url", default=os.environ.get("MICRO_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--samples", type=int, default=300, help="single-query requests per round and server")
    p.add_argument("--concurrency", type=int, default=64, help="samples in flight (OpenRLHF's rollout)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each server counts")
    p.add_argument("--prompts", default="unique,repeated", help="prompt shapes to run: unique, repeated")
    p.add_argument("--openrlhf", default="0.11.2", help="version under .venv-rl/openrlhf/")
    p.add_argument("--overhead-requests", type=int, default=100)
    p.add_argument("--device", default="cpu", help="cuda: every server on the GPU (bench/gpu_check.sh); the bare "
                   "server and the fp32 service in fp32, the defaults in the GPU's bf16/fp16")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a MICRO_* setting of both services (repeatable)")
    return parse_with_quick(p, argv, QUICK)


# ---- the workload ----------------------------------------------------------------------------
def samples(n: int, tag: str, shape: str) -> list[dict]:
    """n samples: DSP test-split item i // 5 with its (i % 5)-th style; the prompt tagged per sample
    (unique) or per item (repeated)."""
    items = load_dsp_items(split="test")
    out = []
    for i in range(n):
        item, style = items[(i // 5) % len(items)], DSP_RESPONSE_KEYS[i % 5]
        mark = f"[{tag}-{i}]" if shape == "unique" else f"[{tag}-{i // 5}]"
        out.append({"prompt": CHAT.format(prompt=f"{mark} {item.prompt}"), "response": item.responses[style],
                    "label": "", "style": style, "item": i // 5})
    return out


def drive(url: str, job_samples: list[dict], concurrency: int, version: str) -> dict:
    """One run of OpenRLHF's client against ``url`` (a child process in .venv-rl)."""
    root = REPO_ROOT / ".venv-rl" / "openrlhf" / version
    job = {"urls": [url + "/get_reward"], "concurrency": concurrency,
           "samples": [{k: s[k] for k in ("prompt", "response", "label")} for s in job_samples]}
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([str(REPO_ROOT / ".venv-rl" / "bin" / "python"), str(DRIVER), str(root), out.name],
                       input=json.dumps(job).encode(), check=True, capture_output=True)
        result = json.loads(Path(out.name).read_text())
    rewards = [r[0] if isinstance(r, list) else r for r in result["rewards"]]
    if any(r is None for r in rewards):
        raise RuntimeError(f"{url}: {sum(r is None for r in rewards)} samples got no reward")
    lat = result["latencies_s"]
    return {"seconds": round(result["seconds"], 2), "queries_per_s": round(len(rewards) / result["seconds"], 2),
            "p50_ms": round(1000 * stats.percentile(lat, 50)), "p99_ms": round(1000 * stats.percentile(lat, 99)),
            "rewards": rewards}


# ---- accuracy --------------------------------------------------------------------------------
def agreement(rewards: list[float], reference: list[float], job: list[dict]) -> dict:
    """Against the fp32 bare server on the same texts: max |reward difference|, and the share of
    same-prompt response pairs both order alike."""
    same = total = 0
    for a in range(len(job)):
        for b in range(a + 1, len(job)):
            if job[a]["item"] == job[b]["item"]:
                total += 1
                same += (rewards[a] > rewards[b]) == (reference[a] > reference[b])
    return {"max_abs_diff": max(abs(x - y) for x, y in zip(rewards, reference)),
            "order_agreement": round(same / total, 4) if total else None}


def dsp_accuracy(rewards: list[float], job: list[dict]) -> dict[str, float]:
    """Per DSP user type d: the share of its pairs (responses[d] over each other style of the same
    prompt) the served rewards order right (the new-user mix: no personalization here)."""
    by_item: dict[int, dict[str, float]] = {}
    for r, s in zip(rewards, job):
        by_item.setdefault(s["item"], {})[s["style"]] = r
    out = {}
    for d in ("academy", "business", "entertainment", "literature"):
        pairs = [(row[d], row[o]) for row in by_item.values() if d in row for o in row if o != d]
        out[d] = round(sum(c > r for c, r in pairs) / len(pairs), 4) if pairs else None
    return out


def overhead(url: str, n: int) -> dict:
    """Latency of a /get_reward whose two texts are cached (a forward-free request), one at a time."""
    body = {"query": [CHAT.format(prompt="[overhead] What is a reward model?") + "A model that scores answers."],
            "prompts": [CHAT.format(prompt="[overhead] What is a reward model?")], "labels": [""]}
    with httpx.Client(base_url=url, timeout=60.0) as client:
        client.post("/get_reward", json=body).raise_for_status()  # fills the cache
        lat = []
        for _ in range(n):
            start = time.perf_counter()
            client.post("/get_reward", json=body).raise_for_status()
            lat.append(time.perf_counter() - start)
    return {"p50_ms": round(1000 * stats.percentile(lat, 50), 2), "p99_ms": round(1000 * stats.percentile(lat, 99), 2)}


def served_backend(log_path: Path) -> str:
    match = re.findall(r'"backend": "([^"]+)"', log_path.read_text())
    return match[-1] if match else "?"


# ---- the run ---------------------------------------------------------------------------------
def run(args: argparse.Namespace, urls: dict[str, str]) -> dict:
    out: dict = {"shapes": {}}
    for shape in args.prompts.split(","):
        rounds: dict[str, list[dict]] = {name: [] for name in urls}
        for r in range(args.rounds):
            for name, url in urls.items():  # interleaved: bare, defaults, fp32, bare, ...
                job = samples(args.samples, f"{args.run}{shape[0]}{r}{name[0]}", shape)
                rounds[name].append({k: v for k, v in drive(url, job, args.concurrency, args.openrlhf).items()
                                     if k != "rewards"})
                print(f"{shape} round {r} {name}: {rounds[name][-1]['seconds']} s, load {os.getloadavg()[0]:.1f}",
                      file=sys.stderr, flush=True)
        best = {name: min(rs, key=lambda x: x["seconds"]) for name, rs in rounds.items()}
        out["shapes"][shape] = {"rounds": rounds, "best": best,
                                "ratio": {name: round(best["bare"]["seconds"] / b["seconds"], 3)
                                          for name, b in best.items()}}
    job = samples(args.samples, f"{args.run}acc", "unique")  # the same texts to every server
    rewards = {name: drive(url, job, args.concurrency, args.openrlhf)["rewards"] for name, url in urls.items()}
    out["accuracy"] = {name: {**agreement(rewards[name], rewards["bare"], job), "dsp": dsp_accuracy(rewards[name], job)}
                       for name in urls}
    out["overhead"] = {name: overhead(url, args.overhead_requests) for name, url in urls.items() if name != "bare"}
    return out


def render_result(res: dict) -> str:
    lines = [f"load average {res['loadavg_start']} -> {res['loadavg_end']}; backends: {res['backends']}"]
    for shape, r in res["shapes"].items():
        lines += [f"\nRL pattern, {shape} prompts: {res['samples']} single-query /get_reward, {res['concurrency']} "
                  f"in flight, OpenRLHF {res['openrlhf']} client, best of {res['rounds']} (interleaved)",
                  "| server | best s | queries/s | vs bare | p50 ms | p99 ms | all rounds s |", "|---|---|---|---|---|---|---|"]
        for name, b in r["best"].items():
            lines.append(f"| {name} | {b['seconds']} | {b['queries_per_s']} | **{r['ratio'][name]:.2f}x** | {b['p50_ms']} | "
                         f"{b['p99_ms']} | {', '.join(str(x['seconds']) for x in r['rounds'][name])} |")
    lines += ["\nAccuracy on the same texts (reference: the fp32 bare server)",
              "| server | max abs reward diff | same-prompt order agreement | DSP pairwise acc academy / business / entertainment / literature |",
              "|---|---|---|---|"]
    for name, a in res["accuracy"].items():
        dsp = " / ".join(f"{v:.3f}" for v in a["dsp"].values())
        lines.append(f"| {name} | {a['max_abs_diff']:.2e} | {a['order_agreement']} | {dsp} |")
    lines.append("\nPer-request overhead (a /get_reward with every text cached: parsing, validation, "
                 "text joining, hashing, heads, JSON; no forward), one at a time:")
    lines += [f"  {name}: p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms" for name, o in res["overhead"].items()]
    gate = read_variants(Path(res["checkpoint"])).get("torch-bf16")
    lines.append("\nAccuracy gate of the checkpoint's torch-bf16 variant (recorded by python -m model.fit_variant):")
    lines.append(render(gate) if gate else "  none recorded: MICRO_BACKEND=auto serves fp32 (run python -m model.fit_variant)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args.run = uuid.uuid4().hex[:6]
    prefix = f"bench-{args.run}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    extra = {}
    for pair in args.server_env:
        name, _, value = pair.partition("=")
        extra[name.removeprefix("MICRO_").lower()] = value
    common = {"checkpoint": args.checkpoint.resolve(), "redis_url": args.redis_url, "key_prefix": prefix,
              "device": args.device, **extra}
    servers = {"bare": ServiceProcess(log_dir / "bare.log", module="bench.bare_server", ready_path="/health",
                                      checkpoint=args.checkpoint.resolve(), device=args.device),
               "defaults": ServiceProcess(log_dir / "defaults.log", **common),
               "fp32": ServiceProcess(log_dir / "fp32.log", **common, backend="torch", dtype="float32")}
    res = {"loadavg_start": [round(x, 2) for x in os.getloadavg()], "samples": args.samples,
           "concurrency": args.concurrency, "rounds": args.rounds, "openrlhf": args.openrlhf,
           "checkpoint": str(args.checkpoint.resolve()), "server_logs": str(log_dir)}
    try:
        for s in servers.values():
            s.start()
        urls = {name: s.wait_ready().rstrip("/") for name, s in servers.items()}
        res["backends"] = {name: served_backend(s.log_path) for name, s in servers.items() if name != "bare"}
        res.update(run(args, urls))
    finally:
        for s in servers.values():
            s.stop()
        try:
            delete_keys(args.redis_url, prefix)
        except redis.RedisError:  # no Redis (a GPU box): the services ran degraded, user-less samples need none
            pass
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(render_result(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
