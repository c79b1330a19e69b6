"""Which weights a backbone directory holds: a hash of its weight files.

A backbone's ``fingerprint`` hashes its config.json (architecture and sizes). A model fine-tuned and saved in place
keeps that config, so the fingerprint alone cannot tell it from the model it started as. Heads trained on one set of
weights and served on another would score wrong without an error, and cached embeddings would be stale. The weights
digest closes that gap: sha256 over every top-level weight file's name, size and bytes, the files that
``from_pretrained`` reads.

Records written before the digest existed have no ``weights`` key. They are read as "weights unknown" and compared
on the other fields only (:func:`same_backbone`), so existing checkpoints, exported graphs and feature shards keep
loading.

Hashing reads every weight file once per process and directory; the result is kept in memory, keyed by each file's
size and modification time. all-MiniLM-L6-v2 (90 MB) takes about 0.1 s.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5")
DIGEST_CHARS = 16
_CHUNK = 8 << 20

_memo: dict[tuple, str] = {}


def weight_files(path: Path) -> list[Path]:
    """The top-level weight files of a model directory, sorted by name (shards included, indexes excluded)."""
    return sorted(p for p in Path(path).iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def weights_digest(path: Path) -> str | None:
    """sha256 (first 16 hex characters) of the weight files' names, sizes and bytes; None when the directory has
    no weight file (a model whose weights come from elsewhere cannot be told apart by them)."""
    files = weight_files(path)
    if not files:
        return None
    stats = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    key = (str(Path(path).resolve()), stats)
    if key in _memo:
        return _memo[key]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"\0{f.name}\0{f.stat().st_size}\0".encode("utf-8"))
        with f.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    _memo[key] = digest.hexdigest()[:DIGEST_CHARS]
    return _memo[key]


def same_backbone(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Two backbone records agree: every field equal, and the weights digest too when both records carry one
    (a record written before the digest existed is compared on the other fields)."""
    if recorded.get("weights") and current.get("weights"):
        return recorded == current
    strip = {"weights"}
    return {k: v for k, v in recorded.items() if k not in strip} == {k: v for k, v in current.items() if k not in strip}


def weights_difference(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """A sentence naming both digests when the records' weights differ (both known), else None."""
    have, want = recorded.get("weights"), current.get("weights")
    if have and want and have != want:
        return (f"the backbone's weights differ from those the record was made with (weights {have} then, {want} "
                "now; same config: fine-tuned or replaced in place?)")
    return None
