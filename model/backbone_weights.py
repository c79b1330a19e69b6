"""Which weights a backbone directory holds: a hash of its weight files.

A backbone's ``fingerprint`` hashes its config.json (architecture and sizes). A model fine-tuned and saved in place
keeps that config, so the fingerprint alone cannot tell it from the model it started as. Heads trained on one set of
weights and served on another would score wrong without an error, and cached embeddings would be stale. The weights
digest closes that gap: sha256 over the name, size and bytes of each weight file ``from_pretrained`` reads
(:func:`weight_files`; an unchanged copy with extra files, a TensorFlow copy say, keeps the digest).

Records written before the digest existed have no ``weights`` key. They are read as "weights unknown" and compared
on the other fields only (:func:`same_backbone`), so existing checkpoints, exported graphs and feature shards keep
loading.

Hashing reads the weight files once per process and directory; the result is kept in memory, keyed by each file's
size, inode, modification and change times. sha256 runs at about 1.5 GB/s on one core here: all-MiniLM-L6-v2
(90 MB) takes about 0.1 s, a 14 GB model about 10 s (docs/deploy.md: the startup probe).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# what from_pretrained loads, in the order it looks: one safetensors file or its shards, else the PyTorch ones
LOADED_WEIGHTS = (("model.safetensors", "model.safetensors.index.json"),
                  ("pytorch_model.bin", "pytorch_model.bin.index.json"))
DIGEST_CHARS = 16
_CHUNK = 8 << 20

_memo: dict[tuple, str] = {}


def weight_files(path: Path) -> list[Path]:
    """The weight files ``from_pretrained`` reads from a model directory: ``model.safetensors``, else the shards its
    index names (the index included), else the same for ``pytorch_model.bin``. Other files (a TensorFlow or Flax
    copy, ``training_args.bin``) are not read, so they do not change the digest."""
    path = Path(path)
    for single, index in LOADED_WEIGHTS:
        if (path / single).is_file():
            return [path / single]
        if (path / index).is_file():
            try:
                shards = sorted(set(json.loads((path / index).read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return [path / index]  # unreadable: loading will say so; the index's bytes still identify it
            return [path / index, *(path / s for s in shards if (path / s).is_file())]
    return []


def weights_digest(path: Path) -> str | None:
    """sha256 (first 16 hex characters) of the loaded weight files' names, sizes and bytes; None when the
    directory has none of them (a model whose weights come from elsewhere cannot be told apart by them)."""
    files = weight_files(path)
    if not files:
        return None
    stats = [(f, f.stat()) for f in files]
    # a rewrite in place keeps the size; the inode, mtime and ctime together tell it (a copy keeping mtime too)
    key = (str(Path(path).resolve()), tuple((f.name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                                            for f, st in stats))
    if key in _memo:
        return _memo[key]
    digest = hashlib.sha256()
    for f, st in stats:
        digest.update(f"\0{f.name}\0{st.st_size}\0".encode("utf-8"))
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
