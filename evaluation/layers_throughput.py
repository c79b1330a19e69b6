"""Throughput cost of multi-layer pooling: Encoder.encode texts/s with the last layer only and
with a layer selection, same process, same texts, alternating runs (the median of each).

    python -m evaluation.layers_throughput [--texts 200] [--layers 2,4,6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from model.backbone import Encoder
from model.data import load_dsp_items


def texts_of(n: int) -> list[str]:
    encoder_free = [f"{it.prompt}\n\n{r}" for it in load_dsp_items(split="test") for r in it.responses.values()]
    return encoder_free[:n]


def rate(encoder: Encoder, texts: list[str]) -> float:
    started = time.perf_counter()
    encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.layers_throughput", description=__doc__)
    p.add_argument("--texts", type=int, default=200)
    p.add_argument("--layers", default="2,4,6")
    p.add_argument("--combine", choices=["concat", "mean"], default="concat")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    texts = texts_of(args.texts)
    last = Encoder()
    multi = Encoder(layers=[int(x) for x in args.layers.split(",")], layer_combine=args.combine)
    last.encode(texts[:16]), multi.encode(texts[:16])  # warm-up
    rates: dict[str, list[float]] = {"last layer": [], f"layers {args.layers} {args.combine}": []}
    for _ in range(args.rounds):
        for (name, runs), encoder in zip(rates.items(), (last, multi)):
            runs.append(rate(encoder, texts))
    medians = {name: statistics.median(runs) for name, runs in rates.items()}
    base = medians["last layer"]
    for name, value in medians.items():
        print(f"{name}: {value:.1f} texts/s (median of {args.rounds}; runs {', '.join(f'{r:.1f}' for r in rates[name])}); "
              f"ratio to last layer {value / base:.3f}")


if __name__ == "__main__":
    main()
