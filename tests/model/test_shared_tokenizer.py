"""Threads sharing one tokenizer never get each other's truncation (model/shared_tokenizer.py).

Without the lock a fast tokenizer's per-call settings race: a call with ``truncation=True,
max_length=16`` running beside an untruncated call returned 802 tokens (9 times in 3 s here)."""

import threading
import time

from model.backbone import default_backbone_path
from model.shared_tokenizer import SharedTokenizer


def test_truncated_calls_stay_truncated_beside_untruncated_ones():
    from transformers import AutoTokenizer

    tok = SharedTokenizer(AutoTokenizer.from_pretrained(str(default_backbone_path())))
    tok.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    long_text = "word " * 800
    lengths: list[int] = []
    stop = time.monotonic() + 2.0

    def truncated() -> None:
        while time.monotonic() < stop:
            lengths.extend(len(ids) for ids in tok([long_text] * 4, truncation=True, max_length=16)["input_ids"])

    def untruncated() -> None:
        while time.monotonic() < stop:
            tok([long_text] * 4, add_special_tokens=False, return_offsets_mapping=True)
            tok.encode(long_text)

    threads = [threading.Thread(target=truncated), threading.Thread(target=untruncated), threading.Thread(target=untruncated)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lengths and max(lengths) == 16


def test_attributes_pass_through_and_can_be_set():
    from transformers import AutoTokenizer

    inner = AutoTokenizer.from_pretrained(str(default_backbone_path()))
    tok = SharedTokenizer(inner)
    tok.padding_side = "left"
    assert inner.padding_side == "left" and tok.pad_token_id == inner.pad_token_id and tok.wrapped is inner


def test_copy_and_len_work():
    import copy

    from transformers import AutoTokenizer

    inner = AutoTokenizer.from_pretrained(str(default_backbone_path()))
    tok = SharedTokenizer(inner)
    assert len(tok) == len(inner)
    assert copy.copy(tok)("hello")["input_ids"] == inner("hello")["input_ids"]
