"""MicroClient against a real server: every method, typed results, problem+json errors."""

from __future__ import annotations

import httpx
import pytest
from micro_client import FeedbackItem, MicroClient, MicroError, ScoreItem

from tests.client.conftest import BAD, GOOD, PROMPT, teach


@pytest.fixture()
def mc(micro_url: str):
    with MicroClient(micro_url) as client:
        yield client


def test_rank_lists_responses_best_first_in_the_order_of_score(mc: MicroClient) -> None:
    responses = [BAD, GOOD, "Watch videos of chefs."]
    result = mc.score(PROMPT, responses)
    ranked = mc.rank(PROMPT, responses)
    assert [r.index for r in ranked] == result.ranking
    assert [r.response for r in ranked] == [responses[i] for i in result.ranking]
    assert [r.score for r in ranked] == sorted(result.scores, reverse=True)
    assert result.weights_source == "prior" and len(result.truncated) == 3


def test_chat_messages_are_sent_as_messages(mc: MicroClient) -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    result = mc.score(chat, [GOOD, BAD], return_head_rewards=True)
    assert result.p_first_preferred is not None and 0.0 < result.p_first_preferred < 1.0
    assert result.head_rewards is not None and len(result.head_rewards) == 2


def test_feedback_without_id_gets_one_and_a_repeat_with_it_applies_once(mc: MicroClient, user_id: str) -> None:
    first = mc.feedback(user_id, PROMPT, GOOD, BAD)
    assert first.applied and first.feedback_id and first.n_feedback == 1
    again = mc.feedback(user_id, PROMPT, GOOD, BAD, feedback_id=first.feedback_id)
    assert not again.applied and again.version == first.version
    assert mc.get_user(user_id).n_feedback == 1


def test_feedback_personalises_scores_and_delete_forgets_the_user(mc: MicroClient, user_id: str) -> None:
    prior = mc.score(PROMPT, [GOOD, BAD])
    teach(mc, user_id)
    mine = mc.score(PROMPT, [GOOD, BAD], user_id=user_id)
    assert mine.weights_source == "user" and mine.weights != pytest.approx(prior.weights, abs=1e-4)
    user = mc.get_user(user_id)
    assert user.n_feedback == 6 and len(user.offset) == len(user.base_weights) == len(mine.weights)
    mc.delete_user(user_id)
    with pytest.raises(MicroError) as err:
        mc.get_user(user_id)
    assert err.value.status == 404 and err.value.title == "Unknown user" and not err.value.route_missing


def test_set_context_is_stored_and_read_back(mc: MicroClient, user_id: str) -> None:
    assert mc.set_context(user_id, "I like concise answers.").context == "I like concise answers."
    assert mc.get_user(user_id).context == "I like concise answers."


class OlderServer(httpx.BaseTransport):
    """The real server as one released before the batch endpoints: they answer 404 Not Found."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(":batch"):
            return httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "status": 404,
                                              "detail": "Not Found"})
        return self.inner.handle_request(request)


def test_bulk_feedback_falls_back_to_single_posts_while_the_batch_endpoint_is_absent(
    micro_url: str, user_id: str
) -> None:
    items = [FeedbackItem(PROMPT, GOOD, BAD), FeedbackItem("How do I save money?", "Budget monthly.", "Spend.")]
    with MicroClient(micro_url, transport=OlderServer()) as older:
        result = older.bulk_feedback(user_id, items)
        assert result.via == "sequential" and "feedback:batch" in older.absent_routes
        assert [r.feedback_id for r in result.results] == [i.feedback_id for i in items]
        assert [r.n_feedback for r in result.results] == [1, 2]
        replay = older.bulk_feedback(user_id, items)  # the same ids: nothing applied twice
        assert [r.applied for r in replay.results] == [False, False] and older.get_user(user_id).n_feedback == 2


def test_bulk_feedback_without_fallback_raises_the_missing_route(micro_url: str, user_id: str) -> None:
    with MicroClient(micro_url, fallback=False, transport=OlderServer()) as strict, \
            pytest.raises(MicroError) as err:
        strict.bulk_feedback(user_id, [FeedbackItem(PROMPT, GOOD, BAD)])
    assert err.value.route_missing and err.value.status in (404, 405)


def test_bulk_feedback_uses_the_batch_endpoint(micro_url: str, user_id: str) -> None:
    items = [FeedbackItem(PROMPT, GOOD, BAD), FeedbackItem("How do I save money?", "Budget monthly.", "Spend.")]
    with MicroClient(micro_url, fallback=False) as strict:
        result = strict.bulk_feedback(user_id, items)
        assert result.via == "batch" and [r.n_feedback for r in result.results] == [1, 2]
        assert [r.feedback_id for r in result.results] == [i.feedback_id for i in items]
        replay = strict.bulk_feedback(user_id, items)  # the same ids: nothing applied twice
        assert [r.applied for r in replay.results] == [False, False] and strict.get_user(user_id).n_feedback == 2


def test_score_many_equals_one_score_per_item(mc: MicroClient, user_id: str) -> None:
    teach(mc, user_id, repeats=1)
    items = [ScoreItem(PROMPT, [GOOD, BAD], user_id), ScoreItem("How do I save money?", ["Budget.", "Spend."])]
    many = mc.score_many(items)
    for item, result in zip(items, many, strict=True):
        assert result.scores == pytest.approx(mc.score(item.prompt, item.responses, user_id=item.user_id).scores,
                                              abs=1e-4)


def test_score_many_uses_the_batch_endpoint(micro_url: str, user_id: str) -> None:
    items = [ScoreItem(PROMPT, [GOOD, BAD], user_id), ScoreItem("How do I save money?", ["Budget."], context="Brief.")]
    with MicroClient(micro_url, fallback=False) as strict:
        teach(strict, user_id, repeats=1)
        many = strict.score_many(items)
        assert not strict.absent_routes and [len(r.scores) for r in many] == [2, 1]
        assert many[0].weights_source == "user" and many[1].weights_source == "prior"


def test_score_many_falls_back_to_one_score_per_item_while_the_batch_endpoint_is_absent(micro_url: str) -> None:
    items = [ScoreItem(PROMPT, [GOOD, BAD]), ScoreItem("How do I save money?", ["Budget."])]
    with MicroClient(micro_url, transport=OlderServer()) as older, MicroClient(micro_url) as current:
        fallback = older.score_many(items)
        assert "/v1/score:batch" in older.absent_routes
        assert [r.scores for r in fallback] == [pytest.approx(r.scores, abs=1e-4) for r in current.score_many(items)]


def test_next_query_names_two_distinct_candidates(mc: MicroClient, user_id: str) -> None:
    query = mc.next_query(user_id, PROMPT, [GOOD, BAD, "Watch videos of chefs."])
    assert len(set(query.pair)) == 2 and all(0 <= i < 3 for i in query.pair) and query.expected_gain >= 0.0


def test_get_reward_equals_score_of_the_response_after_the_prompt(mc: MicroClient, user_id: str) -> None:
    teach(mc, user_id, repeats=1)
    prompt = "Human: " + PROMPT + "\n\nAssistant:"
    reward = mc.get_reward([prompt + " " + GOOD, prompt + " " + BAD], [prompt, prompt], user_id=user_id)
    score = mc.score(prompt, [" " + GOOD, " " + BAD], user_id=user_id)
    assert reward.rewards == pytest.approx(score.scores, abs=1e-3) and reward.scores == reward.rewards
    assert reward.extra_logs["personalized"] == [1.0, 1.0]


def test_invalid_request_raises_the_problem_details(mc: MicroClient) -> None:
    with pytest.raises(MicroError) as err:
        mc.score(PROMPT, [])
    assert err.value.status == 422 and err.value.title == "Invalid request"
    assert "responses" in err.value.detail and err.value.problem["errors"] and err.value.request_id


def test_key_and_url_come_from_the_environment(auth_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICRO_URL", auth_server.url)
    monkeypatch.setenv("MICRO_API_KEY", auth_server.key)
    with MicroClient() as client:
        assert client.score(PROMPT, [GOOD]).model_version
    with MicroClient(api_key="not-the-key") as wrong, pytest.raises(MicroError) as err:
        wrong.score(PROMPT, [GOOD])
    assert err.value.status == 401
