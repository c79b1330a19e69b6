"""Where things are, declared once: the repository root and the shipped default checkpoint.

Everything else (service settings, CLIs, benches, tests) imports these names."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # model/ sits at the top of the repository
DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "default"  # the trained heads shipped with the code
EMBEDDING_CACHE_DIR = REPO_ROOT / ".cache" / "embeddings"  # on-disk embedding cache of the offline tools
