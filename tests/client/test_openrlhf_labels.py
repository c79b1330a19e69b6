"""The OpenRLHF adapter reads a sample's label as the server's /get_reward does."""

import pytest

from micro_client.adapters.openrlhf import label, parse_label


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (label("alice"), ("alice", None)),
        (label("bob", "short answers"), ("bob", "short answers")),
        ({"user_id": 7, "context": "terse"}, ("7", "terse")),
        ('{"context": "terse"}', (None, "terse")),  # a context without a user: scored on the prior with it
        ("42", (None, None)),  # a plain answer label names no user
        ("not json", (None, None)),
        (None, (None, None)),
    ],
)
def test_labels_name_the_samples_user_and_context(raw, expected):
    assert parse_label(raw) == expected
