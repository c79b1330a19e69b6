"""One prompt, one text: a plain prompt, the same prompt as one user message, and that message
after system messages read the same (router and heads both read ``prompt_text``); dialogues keep
their user and assistant turns. Plain format (the packaged MiniLM tokenizer, no chat template) and
a chat template (tests/model/tiny_models.py)."""

import pytest
from transformers import AutoTokenizer

from model.backbone import default_backbone_path
from model.text_format import PairFormat
from tests.model.tiny_models import build_tiny_llama

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
ASK = {"role": "user", "content": "How do I save money?"}
DIALOGUE = [ASK, {"role": "assistant", "content": "Budget."}, {"role": "user", "content": "And then?"}]


@pytest.fixture(scope="module", params=["plain", "template"])
def form(request, tmp_path_factory) -> PairFormat:
    if request.param == "plain":
        return PairFormat(AutoTokenizer.from_pretrained(default_backbone_path()), 256, use_template=False)
    path = build_tiny_llama(tmp_path_factory.mktemp("llama") / "m")
    return PairFormat(AutoTokenizer.from_pretrained(path), 256, use_template=True)


def test_a_single_user_message_reads_as_the_plain_prompt_with_or_without_a_system_message(form):
    plain = form.prompt_text("How do I save money?", None)
    assert plain == "How do I save money?"
    assert form.prompt_text(None, [ASK]) == plain
    assert form.prompt_text(None, [SYSTEM, ASK]) == plain
    assert form.prompt_text(None, [SYSTEM, SYSTEM, ASK]) == plain
    assert form.join([plain], ["Spend less."]) == form.join([form.prompt_text(None, [SYSTEM, ASK])], ["Spend less."])


def test_a_dialogue_keeps_its_turns_and_drops_its_system_messages(form):
    text = form.prompt_text(None, DIALOGUE)
    assert "User: How do I save money?" in text and "Assistant: Budget." in text and "User: And then?" in text
    assert form.prompt_text(None, [SYSTEM, *DIALOGUE]) == text
    assert "helpful assistant" not in text


def test_system_messages_alone_are_still_read(form):
    assert "helpful assistant" in form.prompt_text(None, [SYSTEM])
