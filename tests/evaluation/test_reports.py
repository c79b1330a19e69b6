"""python -m evaluation.reports: the README table and the personalization summary are written
from the saved figures only, between their markers, and refuse figures of different checkpoints."""

import json

import pytest

from evaluation.reports import README_BEGIN, README_END, SUMMARY_BEGIN, load_figures, render
from evaluation.reports_render import active_wins, http_summary, readme_lines

POLICY = "chosen on validation"


def stage1_figures(version: str = "k2-abc") -> dict:
    def row(dsp: float, hh: float) -> dict:
        return {"per_type": {}, "datasets": {"dsp": [dsp, dsp - 0.03, dsp + 0.03], "relabeled_hh": [hh, hh - 0.04, hh + 0.04]}}

    return {"version": version, "heads": 2, "test_pairs": 10, "command": "python -m evaluation.stage1_checkpoint",
            "rows": {"single_bt": row(0.58, 0.50), "mixture": row(0.60, 0.51), "val_head": row(0.777, 0.571),
                     "oracle_head": row(0.79, 0.60)}}


def online_figures(version: str = "k2-abc") -> dict:
    curves = {f"{POLICY}|{ds}|{n}": [0.5 + n / 1000, 0.4, 0.6] for ds in ("dsp", "relabeled_hh") for n in (0, 1, 2, 5, 10, 20, 50)}
    random = {"dsp/a": [0.70, 0.72], "dsp/b": [0.60, 0.65], "relabeled_hh/helpful": [0.5, 0.5]}
    entropy = {"dsp/a": [0.71, 0.73], "dsp/b": [0.59, 0.66], "relabeled_hh/helpful": [0.6, 0.6]}
    return {"version": version, "policies": {POLICY: "exact Hedge tau=1, router prior"}, "refusals": {"user": 0.451, "val_head_share": 0.684, "val_head": 1, "per_head": [0.684], "prompts": 187}, "curves": curves,
            "active_at": [5, 10], "active_chosen": "random", "active_test": {"random": random, "entropy": entropy}}


def http_figures(version: str = "k2-abc") -> dict:
    return {"model": version, "labels": 10, "users_per_type": 3, "command": "python -m evaluation.personalize_http",
            "personal_top1_interval": [0.375, 0.3, 0.45],
            "types": {"a": {"prior_top1": 0.2, "personal_top1": 0.5}, "b": {"prior_top1": 0.3, "personal_top1": 0.25}}}


def test_active_wins_count_dsp_types_beating_random_at_each_label_count():
    assert active_wins(online_figures()) == {"entropy": [(1, 2), (2, 2)]}


def test_http_summary_says_whether_every_type_beats_its_prior():
    personal, prior, every = http_summary(http_figures())
    assert personal == pytest.approx(0.375) and prior == pytest.approx(0.25) and not every


def test_readme_table_carries_the_validated_head_online_figures_and_their_commands():
    text = "\n".join(readme_lines(stage1_figures(), online_figures(), http_figures()))
    assert "| **MiCRo K=2, head per user type chosen on validation** (never sees user types) | 0.777 [0.747, 0.807] | 0.571 [0.531, 0.611] |" in text
    assert "| **MiCRo online, fresh user after 10 labels** | 0.510 [0.400, 0.600] | 0.510 [0.400, 0.600] |" in text
    assert "`python -m evaluation.online_choice`" in text and "**0.375** [0.300, 0.450]" in text
    assert "not every user type above its prior" in text
    assert "exact Hedge tau=1, router prior" in text and "0.451" in text and "on validation, alone, on 0.684" in text


def test_render_replaces_the_marked_blocks_and_keeps_the_rest(tmp_path):
    readme, page = tmp_path / "README.md", tmp_path / "personalization.md"
    readme.write_text(f"# R\n\n## Results\n\n{README_BEGIN}\nold figures\n{README_END}\n\nafter\n", encoding="utf-8")
    page.write_text("# Personalization\n\nhand-written part\n", encoding="utf-8")
    figures = {"stage1": stage1_figures(), "online": online_figures(), "http": None}
    for _ in range(2):
        render(figures, readme, page)
    text = readme.read_text(encoding="utf-8")
    assert "old figures" not in text and text.count(README_BEGIN) == 1 and text.rstrip().endswith("after")
    summary = page.read_text(encoding="utf-8")
    assert summary.startswith(f"# Personalization\n\n{SUMMARY_BEGIN}") and summary.count(SUMMARY_BEGIN) == 1
    assert "entropy: n=5 1/2, n=10 2/2" in summary and "hand-written part" in summary


def test_figures_of_different_checkpoints_are_refused(tmp_path):
    for name, fig in (("stage1", stage1_figures("k2-abc")), ("online", online_figures("k2-other"))):
        (tmp_path / f"{name}.json").write_text(json.dumps(fig), encoding="utf-8")
    figures = load_figures(tmp_path)
    assert figures["http"] is None
    with pytest.raises(SystemExit, match="different checkpoints"):
        render(figures, tmp_path / "README.md", tmp_path / "p.md")


def test_render_only_without_saved_figures_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="without --render-only"):
        load_figures(tmp_path)


def test_the_http_top1_interval_is_the_mean_over_types_resampling_queries():
    from evaluation.personalize_http import query_interval

    ci = query_interval({"a": [1.0, 0.0], "b": [1.0, 1.0]}, ["q1", "q2"])
    assert ci.value == pytest.approx(0.75) and 0.5 <= ci.low <= ci.value <= ci.high <= 1.0


def test_the_active_verdict_is_plain_about_a_missing_win():
    from evaluation.reports_render import verdict

    assert "beats random on 3/4" in verdict({"entropy": [(1, 4), (3, 4)]}, [5, 10])
    said = verdict({"entropy": [(4, 4), (1, 4)], "information": [(4, 4), (2, 4)]}, [5, 10])
    assert "no active criterion beats random on 3 of 4" in said and "information, 2/4" in said


def test_the_summary_says_which_criterion_the_services_next_query_uses():
    from evaluation.reports_render import summary_lines

    online = online_figures() | {"active_chosen": "information", "service_active_criterion": "information"}
    text = "\n".join(summary_lines(stage1_figures(), online, None))
    assert "Chosen on validation users: **information**." in text
    assert 'ranks pairs by the information the label carries about the user\'s head (BALD) (`routing.active_criterion` = "information")' in text
    older = "\n".join(summary_lines(stage1_figures(), online_figures(), None))  # figures saved before the key
    assert "ranks pairs by the checkpoint's `routing.active_criterion` (not recorded in these figures" in older
    assert "entropy drop." not in older


def test_the_table_says_when_the_heads_were_trained_on_simulated_annotator_ids():
    from evaluation.reports_render import grouping_words

    training = {"group_by": "user", "simulated_annotator_prompts": 10}
    words = grouping_words(training)
    assert "simulated annotators of 10 prompts" in words and "--simulated-annotators 10" in words
    text = "\n".join(readme_lines({**stage1_figures(), "grouping": words}, online_figures(), None))
    assert "(never sees user types; trained on simulated annotator ids) |" in text
    assert grouping_words({"group_by": "user", "simulated_annotator_prompts": 0}).startswith("annotator groups (the data's user ids")
    assert grouping_words({}).startswith("choice groups")  # older checkpoints record no grouping


def test_a_failing_step_leaves_the_pages_as_they_were(tmp_path, monkeypatch):
    from evaluation import reports

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "results.md").write_text("# Results\nold\n", encoding="utf-8")

    def half_then_fail(args):
        (args.docs / "results.md").write_text("# Results\nhalf rewritten\n", encoding="utf-8")
        (args.docs / "personalization.md").write_text("# Personalization\nnew\n", encoding="utf-8")
        raise RuntimeError("step 2 failed")

    monkeypatch.setattr(reports, "measure", half_then_fail)
    args = reports.parse_args(["--docs", str(docs)])
    with pytest.raises(RuntimeError):
        reports.measure_or_restore(args)
    assert (docs / "results.md").read_text(encoding="utf-8") == "# Results\nold\n"
    assert not (docs / "personalization.md").exists()


def test_listening_figures_reach_the_readme_and_the_summary():
    from evaluation.reports_render import summary_lines

    ctx = {"command": "python -m evaluation.context_http", "model": "k2-abc",
           "holdout": {"prompts": 187, "no context": [0.8, 0.75, 0.85], "states safety": [0.93, 0.9, 0.96],
                       "states help, no refusals": [0.4, 0.35, 0.45]},
           "dsp": {"stated_pairwise_mean": [0.81, 0.78, 0.84], "stated_top1_mean": [0.52, 0.48, 0.56]}}
    readme = "\n".join(readme_lines(stage1_figures(), online_figures(), None, ctx))
    summary = "\n".join(summary_lines(stage1_figures(), online_figures(), None, ctx))
    for text in (readme, summary):
        assert "0.800 [0.750, 0.850]" in text and "0.930 [0.900, 0.960]" in text and "0.520 [0.480, 0.560]" in text
