"""A Hugging Face tokenizer that several threads can share.

A fast tokenizer keeps its truncation and padding settings on the one Rust object it wraps: each call
sets them, then encodes. Two threads calling at once (the service's text preparation, which measures
prompts untruncated, beside its batcher's tokenization, which truncates to a window) can interleave,
so one call encodes with the other's settings and a 760-token text reaches a 512-position backbone
(seen as an intermittent 500 under load). Every encoding call goes through one lock; attributes and
other methods pass through unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

ENCODING_METHODS = frozenset({"encode", "encode_plus", "batch_encode_plus", "tokenize", "pad", "apply_chat_template",
                              "decode", "batch_decode"})


class SharedTokenizer:
    """Wraps ``tokenizer``: calling it, or one of ENCODING_METHODS, holds the lock."""

    def __init__(self, tokenizer: Any) -> None:
        object.__setattr__(self, "_tokenizer", tokenizer)
        object.__setattr__(self, "_lock", threading.RLock())

    @property
    def wrapped(self) -> Any:
        return self._tokenizer

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_tokenizer", "_lock"):  # copy/pickle probe before __init__ ran
            raise AttributeError(name)
        value = getattr(self._tokenizer, name)
        if name in ENCODING_METHODS and callable(value):
            def locked(*args: Any, **kwargs: Any) -> Any:
                with self._lock:
                    return value(*args, **kwargs)
            return locked
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._tokenizer, name, value)
