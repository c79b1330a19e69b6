"""The text the benches print: the machine; bench.load's tables per phase, ratios and targets;
bench.traffic's lines and ratios."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

TARGETS = {"served_over_raw": (">=", 0.85), "batched_over_naive": (">=", 3.0), "feedback_p99_over_pair_p99": ("<=", 1.5)}


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "loadavg_start": os.getloadavg()}


def ratios(result: dict, key_level: int) -> dict:
    batched = {r["concurrency"]: r for r in result["batched"]}
    naive = {r["concurrency"]: r for r in result["naive"]}
    raw = result["raw"]["responses_per_s"]
    out = {"key_concurrency": key_level}
    if key_level in batched:
        out["served_over_raw"] = round(batched[key_level]["responses_per_s"] / raw, 3)
    if key_level in batched and key_level in naive and naive[key_level]["responses_per_s"]:
        out["batched_over_naive"] = round(batched[key_level]["responses_per_s"] / naive[key_level]["responses_per_s"], 3)
    pair = result.get("pair")
    if pair and pair["score_pair"]["n"] and pair["feedback"]["n"]:
        out["feedback_p99_over_pair_p99"] = round(pair["feedback"]["p99_ms"] / pair["score_pair"]["p99_ms"], 3)
    return out


def level_table(rows: list[dict], raw: float) -> list[str]:
    header = ("| concurrency | requests | responses/s | served/raw | p50 ms | p95 ms | p99 ms | forwards | "
              "mean batch | Redis trips/request | cache hits/misses | errors |")
    lines = [header, "|---" * 12 + "|"]
    for r in rows:
        lines.append(
            f"| {r['concurrency']} | {r['n']} | {r['responses_per_s']:.1f} | {r['responses_per_s'] / raw:.2f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['batch']['forwards']} | "
            f"{r['batch']['mean']} | {r['redis_per_request']} | {r['cache_hits']}/{r['cache_misses']} | "
            f"{sum(r['errors'].values()) or '-'} |")
    return lines


def render(result: dict) -> str:
    m, raw = result["machine"], result["raw"]
    gpu = m["cuda"] or "none (GPU path not measured)"
    lines = [
        (f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, GPU: {gpu}, load average "
         f"{m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end (other jobs may share these cores)"),
        (f"workload: DSP queries, {result['settings']['responses']} responses per /v1/score call, every text unique "
         "(tagged): embedding cache on, hits only where counted below"),
        "",
        (f"raw backbone (Encoder in-process, same texts, {raw['calls']} calls = {raw['texts']} texts): "
         f"{raw['responses_per_s']:.1f} responses/s at batch {raw['best_batch_size']} "
         f"(by batch size: {raw['by_batch_size']}"
         + (f"; {raw['after']} right after the key level, the figure used is the mean)" if "after" in raw else ")")),
        f"servers: MICRO_* defaults{''.join(' ' + e for e in result['settings']['server_env'])}",
        "",
        "served, dynamic batching (/v1/score):",
        *level_table(result["batched"], raw["responses_per_s"]),
        "",
        "naive baseline (MICRO_BATCHING=false: each request's texts in a forward of their own):",
        *level_table(result["naive"], raw["responses_per_s"]),
        "",
        *pair_lines(result),
        "",
        f"ratios at concurrency {result['ratios']['key_concurrency']}:",
    ]
    for name, (op, target) in TARGETS.items():
        value = result["ratios"].get(name)
        met = value is not None and (value >= target if op == ">=" else value <= target)
        lines.append(f"  {name:28s} {value if value is not None else 'n/a':>6}   target {op} {target}   "
                     f"{'met' if met else 'NOT met'}")
    return "\n".join(lines)


def pair_lines(result: dict) -> list[str]:
    lines = []
    if pair := result.get("pair"):
        lines.append(f"score a pair, then feedback on it (concurrency {pair['concurrency']}): {_lat(pair['score_pair'])} "
                     f"for the score, {_lat(pair['feedback'])} for the feedback; embedding cache hits/misses "
                     f"{pair['cache_hits']}/{pair['cache_misses']}")
    if trips := result.get("round_trips"):
        lines.append(f"Redis round trips per request, one at a time: score {trips['score']}, feedback {trips['feedback']}")
    return lines


def _lat(summary: dict) -> str:
    return f"p50/p95/p99 {summary['p50_ms']:.0f}/{summary['p95_ms']:.0f}/{summary['p99_ms']:.0f} ms (n={summary['n']})"


def traffic_ratios(r: dict) -> dict:
    """bench.traffic's ratios: RL batched / per-request and served / raw; overload p99s; fairness."""
    out = {}
    if "rl_batched" in r:
        raw = (r["raw_before"]["queries_per_s"] + r["raw_after"]["queries_per_s"]) / 2
        batched, naive = r["rl_batched"]["queries_per_s"], r["rl_naive"]["queries_per_s"]
        out.update(rl_batched_over_per_request=round(batched / naive, 2) if naive else None,
                   rl_served_over_raw=round(batched / raw, 2) if raw else None)
    if "overload" in r:
        out.update(overload_429_p99_ms=r["overload"]["refused_429"]["p99_ms"],
                   overload_live_p99_ms=r["overload"]["live"]["p99_ms"])
    if "fairness" in r:
        out["fairness_small_over_giant"] = r["fairness"]["small_over_giant"]
    return out


def traffic_render(r: dict) -> str:
    """The text bench.traffic prints."""
    lines = [f"backend {r['settings']['backend']}; load average start {r['machine'].get('loadavg_start')} "
             f"end {r['machine']['loadavg_end']}"]
    if "raw_before" in r:
        lines.append(f"raw loop: {r['raw_before']['queries_per_s']} -> {r['raw_after']['queries_per_s']} queries/s "
                     f"(batch {r['raw_before']['best_batch_size']}; {r['raw_before']['by_batch_size']})")
    for name in [n for n in ("rl_batched", "rl_naive") if n in r]:
        x = r[name]
        lines.append(f"{name}: {x['queries_per_s']} queries/s, p50 {x['p50_ms']} p99 {x['p99_ms']} ms, mean batch "
                     f"{x['batch'].get('mean')}, padding efficiency {x['padding_efficiency']}, errors {x['errors']}")
    if "overload" in r:
        o = r["overload"]
        lines.append(f"overload {o['clients']} x {r['settings']['overload_responses']}: 200 {o['ok']}; "
                     f"429 {o['refused_429']}; /health/live {o['live']}; errors {o['errors']}")
    if "fairness" in r:
        f = r["fairness"]
        lines.append(f"fairness: giant {f['giant_s']} s ({f['giant_status']}), "
                     f"small {f['small_s']} s ({f['small_status']})")
    lines += [f"{k}: {v}" for k, v in r["ratios"].items()]
    return "\n".join(lines)
