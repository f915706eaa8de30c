"""Mind the Gap's measurement suite (svgap.gap) on crafted cases: the parsers, the tournament, the
filters and ensembles, the gap and relative gap against hand-computed values, and the config checks."""

import logging
from pathlib import Path

import polars as pl
import pytest

from svgap.gap import filters, measures, parse, tournament

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("reply", "value"), [
    ("The steps hold. Correctness: <correct>", 1.0),
    ("Wrong sum. Correctness: <incorrect>", 0.0),
    ("**Correctness:** correct", 1.0),
    ("correctness = Incorrect.", 0.0),
    ("The format asks for <correct> or <incorrect>; here: Correctness: <correct>", 1.0),  # the last verdict
    ("I think it is <incorrect>", 0.0),
    ("Looks fine to me.", None),
    ("The answer is correct", None),  # no verdict in the asked format
    ("", None),
])
def test_cot_binary_reads_the_last_verdict(reply, value):
    assert parse.cot_binary(reply) == value


@pytest.mark.parametrize(("reply", "value"), [
    ("Justified. Score: 8", 8.0),
    ("Score: <9>", 9.0),
    ("score = 7/10", 7.0),
    ("First Score: 3, on reflection Score: 10", 10.0),
    ("**Score:** 6.5", 6.5),
    ("Score: 11", None),  # off the 1-10 scale
    ("Score: 0", None),
    ("Score: 8, no, Score: 12", None),  # the last score counts, and it is off the scale
    ("I would give it 8", None),
    ("Score: <score>", None),
])
def test_cot_score_reads_the_last_score_on_the_scale(reply, value):
    assert parse.cot_score(reply) == value


@pytest.mark.parametrize(("reply", "value"), [
    ("A is right. Preferred solution: <A>", "A"),
    ("preferred solution: b", "B"),
    ("Between <A> and <B>, Preferred solution: <B>", "B"),
    ("I prefer <A>", "A"),
    ("Both are fine.", None),
    ("A solution is better", None),  # a bare article is no preference
])
def test_preference_reads_the_last_choice(reply, value):
    assert parse.preference(reply) == value


def test_tournament_plays_a_known_bracket():
    """Eight responses, the judge always prefers the larger sample index: the bracket's order decides
    who meets whom, the best response wins every round, every round halves the field."""
    order = [3, 7, 0, 5, 1, 2, 6, 4]
    judged = []

    def judge(matches):
        judged.append([(m.a, m.b) for m in matches])
        return ["A" if m.a > m.b else "B" for m in matches]

    score, played = tournament.play({"p": order}, 3, judge)
    assert judged == [[(3, 7), (0, 5), (1, 2), (6, 4)], [(7, 5), (2, 6)], [(7, 6)]]
    assert score["p"] == {7: 3, 6: 2, 5: 1, 2: 1, 3: 0, 0: 0, 1: 0, 4: 0}
    assert [won for _, won in played] == ["B", "B", "B", "A", "A", "B", "A"]
    # survivors of round k: N / 2^k
    assert [sum(s >= k for s in score["p"].values()) for k in range(4)] == [8, 4, 2, 1]


def test_tournament_gives_a_bye_and_stops_at_the_rounds_asked():
    def first(matches):
        return ["A"] * len(matches)

    score, played = tournament.play({"p": [0, 1, 2, 3, 4], "q": [9]}, 5, first)
    assert [(m.round, m.a, m.b, won) for m, won in played] == [
        (1, 0, 1, "A"), (1, 2, 3, "A"), (1, 4, None, "bye"), (2, 0, 2, "A"), (2, 4, None, "bye"), (3, 0, 4, "A")]
    assert score == {"p": {0: 3, 1: 0, 2: 1, 3: 0, 4: 2}, "q": {9: 0}}
    assert tournament.full_rounds(5) == 3 and tournament.full_rounds(8) == 3 and tournament.full_rounds(1) == 0
    short, _ = tournament.play({"p": [0, 1, 2, 3]}, 1, first)
    assert short["p"] == {0: 1, 1: 0, 2: 1, 3: 0}


def test_bracket_is_a_seeded_permutation():
    a, b = tournament.bracket(list(range(16)), 5), tournament.bracket(list(range(16)), 5)
    assert a == b and sorted(a) == list(range(16)) and a != list(range(16))
    assert tournament.bracket(list(range(16)), 6) != a


def table():
    # prompt p: 4 responses, 2 correct; prompt q: all wrong; prompt r: all correct
    return pl.DataFrame({
        "prompt_id": ["p"] * 4 + ["q"] * 4 + ["r"] * 4,
        "sample": [0, 1, 2, 3] * 3,
        "correct": [True, False, False, True] + [False] * 4 + [True] * 4,
        "mc": [0.9, 0.2, 0.6, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5],
        "cot_binary": [1.0, 1.0, 0.0, 1.0] + [0.0] * 4 + [1.0, 0.0, 1.0, 1.0],
        "cot_score": [9.0, 3.0, 8.0, 10.0] + [9.0, 1.0, 1.0, 1.0] + [10.0] * 4,
    })


def test_gap_and_relative_gap_against_a_hand_computed_example():
    spec = filters.parse({"MC top 0.5": {"method": "mc", "quantile": 0.5},
                          "CoT-B": {"method": "cot_binary", "threshold": 1},
                          "CoT-S tau 9": {"method": "cot_score", "threshold": 9}}, {})
    prompts, summary = measures.measure(table(), spec, "zero")
    gap = {(f, p): g for f, p, g in prompts.select("filter", "prompt_id", "gap").iter_rows()}
    # MC top 0.5 of p: the median of (0.2, 0.6, 0.8, 0.9) is 0.7, kept 0.9 and 0.8, both correct: 1 - 0.5
    assert gap["MC top 0.5", "p"] == pytest.approx(0.5)
    # q: median 0.25 keeps 0.3 and 0.4, both wrong: 0; r: all tied at 0.5 and all kept: 0
    assert gap["MC top 0.5", "q"] == 0 and gap["MC top 0.5", "r"] == 0
    # CoT-B of p keeps 0, 1, 3 (2 of 3 correct): 2/3 - 1/2; q keeps nothing: no gap of its own
    assert gap["CoT-B", "p"] == pytest.approx(1 / 6) and gap["CoT-B", "q"] is None
    # CoT-S tau 9 (>= 9) of p keeps 0 and 3, both correct; q keeps sample 0 (9), wrong
    assert gap["CoT-S tau 9", "p"] == pytest.approx(0.5) and gap["CoT-S tau 9", "q"] == 0
    rows = {r["filter"]: r for r in summary.iter_rows(named=True)}
    assert rows["MC top 0.5"]["acc"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert rows["MC top 0.5"]["gap"] == pytest.approx(0.5 / 3)
    # relative gap: p's gap over its deficiency 0.5 is 1; q's deficiency 1, gap 0; r solved: 0
    assert rows["MC top 0.5"]["rel_gap"] == pytest.approx(1 / 3)
    assert rows["MC top 0.5"]["n_solved"] == 1
    # empty "zero": q contributes 0 and stays in the mean
    assert rows["CoT-B"]["n_empty"] == 1 and rows["CoT-B"]["n_prompts"] == 3
    assert rows["CoT-B"]["gap"] == pytest.approx((1 / 6 + 0 + 0) / 3)
    assert rows["CoT-B"]["rel_gap"] == pytest.approx((1 / 3 + 0 + 0) / 3)
    se = pl.Series([0.5, 0.0, 0.0]).std() / 3 ** 0.5
    assert rows["MC top 0.5"]["gap_se"] == pytest.approx(se)
    # empty "skip": q leaves the mean, and is still counted
    skipped = {r["filter"]: r for r in measures.measure(table(), spec, "skip")[1].iter_rows(named=True)}
    assert skipped["CoT-B"]["n_prompts"] == 2 and skipped["CoT-B"]["n_empty"] == 1
    assert skipped["CoT-B"]["gap"] == pytest.approx(1 / 12)
    assert skipped["MC top 0.5"]["gap"] == pytest.approx(rows["MC top 0.5"]["gap"])


def test_ensembles_are_the_intersection_of_their_filters():
    spec = filters.parse({"MC top 0.5": {"method": "mc", "quantile": 0.5},
                          "CoT-B": {"method": "cot_binary", "threshold": 1},
                          "CoT-S tau 8": {"method": "cot_score", "threshold": 8}},
                         {"MC+CoT-B": ["MC top 0.5", "CoT-B"], "All": ["MC top 0.5", "CoT-B", "CoT-S tau 8"]})
    flags = filters.kept(table(), spec)
    assert (flags["MC+CoT-B"] == (flags["MC top 0.5"] & flags["CoT-B"])).all()
    assert (flags["All"] == (flags["MC top 0.5"] & flags["CoT-B"] & flags["CoT-S tau 8"])).all()
    assert flags.filter(pl.col("prompt_id") == "p")["MC+CoT-B"].to_list() == [True, False, False, True]
    # a method that was not run (null scores) keeps nothing
    none = filters.kept(table().with_columns(pl.lit(None, dtype=pl.Float64).alias("cot_binary")), spec)
    assert not none["CoT-B"].any() and not none["All"].any()


@pytest.mark.parametrize(("spec", "ensembles", "message"), [
    ({"x": {"method": "nope", "threshold": 1}}, {}, "gap.filters.x.method"),
    ({"x": {"method": "mc"}}, {}, "exactly one of quantile and threshold"),
    ({"x": {"method": "mc", "quantile": 0.5, "threshold": 0.5}}, {}, "exactly one"),
    ({"x": {"method": "mc", "threshold": 0.5}}, {"e": ["x", "y"]}, "gap.ensembles.e"),
    ({"x": {"method": "mc", "threshold": 0.5}}, {"x": ["x", "x"]}, "already a filter"),
])
def test_bad_filters_name_the_key(spec, ensembles, message):
    with pytest.raises(ValueError, match=message):
        filters.parse(spec, ensembles)


def test_threshold_sweep_and_tournament_rounds():
    t = table().with_columns(tournament=pl.Series([2, 0, 1, 0] + [0, 1, 2, 0] + [2, 1, 0, 0]))
    sweep = measures.sweep(t, {"CoT-S tau": {"method": "cot_score", "kind": "threshold", "values": [1, 9, 10]},
                               "missing": {"method": "tournament_x", "kind": "threshold", "values": [1]}}, "zero")
    assert sweep["family"].unique().to_list() == ["CoT-S tau"]  # a method not in the table is left out
    by_value = dict(zip(sweep["value"], sweep["gap"], strict=True))
    assert by_value[1.0] == 0  # tau 1 keeps everything
    assert by_value[10.0] == pytest.approx(0.5 / 3)  # p keeps its 10 (correct), q nothing, r all
    rounds = measures.rounds(t, 2)
    assert rounds["round"].to_list() == [0, 1, 2]
    # round 1 survivors: p {0, 2} (1/2), q {5, 6} (0), r {8, 9} (1); round 2: p {0}, q {6}, r {8}
    assert rounds["accuracy"].to_list() == pytest.approx([1.5 / 3, 1.5 / 3, 2 / 3])
    assert rounds["gap_previous"].to_list()[1:] == pytest.approx([0, 0.5 / 3])


def test_position_bias_and_variance():
    matches = pl.DataFrame({"prompt_id": ["p"] * 4, "round": [1, 1, 2, 1], "match": [0, 1, 0, 2],
                            "winner_position": ["A", "B", "A", "bye"],
                            "decided_by": ["verdict", "verdict", "verdict", "bye"]})
    bias = measures.position_bias(matches.vstack(matches.head(1).with_columns(decided_by=pl.lit("coin"))))
    expected = {"1": 0.5, "2": 1.0, "all": pytest.approx(2 / 3)}
    assert dict(zip(bias["round"], bias["first_wins"], strict=True)) == expected
    repeats = pl.DataFrame({"prompt_id": ["p"] * 4 + ["q"] * 4, "sample": [0] * 8,
                            "score": [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], "parsed": [True] * 7 + [False]})
    var = measures.variance(repeats)
    assert var["variance"].to_list() == [0.25, 0.0] and var["n_parsed"].to_list() == [4, 3]


def test_correlations_of_scores_and_gaps():
    spec = filters.parse({"MC top 0.5": {"method": "mc", "quantile": 0.5},
                          "CoT-S tau 9": {"method": "cot_score", "threshold": 9}}, {})
    prompts, _ = measures.measure(table(), spec, "zero")
    corr = measures.correlations(table(), ["mc", "cot_binary", "cot_score", "tournament"], prompts, list(spec))
    scores = corr.filter(pl.col("kind") == "scores")
    assert set(scores["a"]) == {"mc", "cot_binary", "cot_score"}  # tournament was not run
    assert scores.filter((pl.col("a") == "mc") & (pl.col("b") == "mc"))["r"].item() == pytest.approx(1.0)
    expected = table().select(pl.corr("mc", "cot_score")).item()
    assert scores.filter((pl.col("a") == "mc") & (pl.col("b") == "cot_score"))["r"].item() == pytest.approx(expected)
    gaps = corr.filter(pl.col("kind") == "gaps")
    assert set(gaps["a"]) == {"acc", "MC top 0.5", "CoT-S tau 9"}


class WordTokenizer:
    """Words with their leading space, and single other characters, as tokens (a vocabulary that grows):
    enough for svgap.gap.verify without a model."""

    chat_template = None

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text):
        import re

        ids = []
        for piece in re.findall(r" ?\w+|\W", text):
            if piece not in self.vocab:
                self.vocab[piece] = len(self.words)
                self.words.append(piece)
            ids.append(self.vocab[piece])
        return ids

    def __call__(self, text, add_special_tokens=True):
        return type("Encoded", (), {"input_ids": self.encode(text)})()

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.words[i] for i in ids)


class ScriptedBackend:
    """Replies by rule from the prompt's text: a crafted well-formed or malformed reply per method."""

    eos_token_ids = frozenset()

    def __init__(self, reply, tokenizer):
        self.reply, self.tokenizer = reply, tokenizer
        self.calls = []

    def sample(self, prompts, n, max_new_tokens, temperature, seeds, first_token_ids=(), top_p=1.0):
        import numpy as np

        from svgap.inference.backend import Completion

        self.calls.append((len(prompts), n, temperature, top_p))
        out = []
        for p, seed in zip(prompts, seeds, strict=True):
            text = self.tokenizer.decode(p)
            first = tuple([-np.log(max(len(first_token_ids), 1))] * len(first_token_ids))  # uniform over them
            out.append([Completion(tuple(self.tokenizer.encode(self.reply(text, seed, j))), 1.0, True, first)
                        for j in range(n)])
        return out

    def next_token_logprobs(self, prompts, token_ids):
        import numpy as np

        # P(Correct) = 0.8 for every prompt whose last response says 'right', else 0.3
        rows = []
        for p in prompts:
            text = self.tokenizer.decode(p)
            good = text.rsplit("Solution:", 1)[-1].startswith(" right")
            yes = np.log(0.8 if good else 0.3)
            no = np.log(0.2 if good else 0.7)
            half = len(token_ids) // 2
            rows.append([yes - np.log(half)] * half + [no - np.log(len(token_ids) - half)] * (len(token_ids) - half))
        return np.array(rows)


def test_verify_records_each_methods_parsed_and_unparsed_replies():
    from svgap.gap.verify import Spec, verify
    from svgap.tasks import make_task

    def reply(text, seed, j):
        last = text.rsplit("Question:", 1)[-1]
        if "Correctness" in last:
            return "Fine. Correctness: <correct>" if "right" in last.split("Attempted solution:")[-1] else "hmm"
        if "Score:" in last:
            return "Score: 9" if "right" in last.split("Attempted solution:")[-1] else "Score: 42"
        if "Solution A" in last:
            return "Preferred solution: <B>" if seed % 2 else "no idea"
        raise AssertionError(last)

    task = make_task("arithmetic")
    data = pl.DataFrame({"prompt_id": ["a", "b"], "prompt": ["What is 1 + 1?", "What is 2 + 2?"]})
    gens = pl.DataFrame({"prompt_id": ["a"] * 4 + ["b"] * 4, "sample": [0, 1, 2, 3] * 2,
                         "text": ["right", "wrong", "right", "wrong", "wrong", "wrong", "right", "wrong"]})
    spec = Spec(("mc", "cot_binary", "cot_score", "tournament"), 0.7, 0.9, 16, False, 0, 3, 2)
    tokenizer = WordTokenizer()
    backend = ScriptedBackend(reply, tokenizer)
    scores, matches, repeats = verify(({"chat_template": False}, tokenizer, backend), task, data, gens, spec,
                                      seed=0, where="test")
    right = scores.join(gens, on=["prompt_id", "sample"])["text"] == "right"
    assert scores["mc"].to_list() == pytest.approx([0.8 if r else 0.3 for r in right])
    # well-formed for the right responses, malformed for the wrong ones: scored by rule and counted
    assert (scores["cot_binary_parsed"] == right).all() and (scores["cot_binary"] == right.cast(pl.Float64)).all()
    assert (scores["cot_score_parsed"] == right).all()
    assert scores["cot_score"].to_list() == [9.0 if r else 1.0 for r in right]
    # tournament: 4 responses per prompt, 2 + 1 matches; an unparsed reply is a coin, a parsed one B
    assert matches.height == 6 and set(matches["decided_by"]) <= {"verdict", "coin"}
    decided = matches.filter(pl.col("decided_by") == "verdict")
    assert (decided["winner_position"] == "B").all() and (decided["winner"] == decided["b"]).all()
    assert sorted(scores.filter(pl.col("prompt_id") == "a")["tournament"].to_list()) == [0, 0, 1, 2]
    # repeats: 3 CoT-Binary verdicts of the first 2 responses of each prompt
    assert repeats.height == 2 * 2 * 3 and set(repeats["sample"]) == {0, 1}
    assert (repeats["parsed"] == (repeats["reply"] != "hmm")).all()
    # every model call at the verifier's temperature and top-p
    assert {(t, p) for _, _, t, p in backend.calls} == {(0.7, 0.9)}


def test_verify_leaves_the_methods_not_asked_for_null():
    from svgap.gap.verify import Spec, verify
    from svgap.tasks import make_task

    data = pl.DataFrame({"prompt_id": ["a"], "prompt": ["What is 1 + 1?"]})
    gens = pl.DataFrame({"prompt_id": ["a", "a"], "sample": [0, 1], "text": ["right", "wrong"]})
    spec = Spec(("mc",), 0.7, 0.9, 16, True, 0, 0, 1)
    tokenizer = WordTokenizer()
    scores, matches, repeats = verify(({"chat_template": False}, tokenizer, ScriptedBackend(None, tokenizer)),
                                      make_task("arithmetic"), data, gens, spec, seed=0, where="test")
    assert scores["mc"].null_count() == 0
    assert all(scores[c].null_count() == 2 for c in ("cot_binary", "cot_score", "tournament"))
    assert matches.height == 0 and repeats.height == 0


def test_the_loop_verifies_with_the_runs_mtg_method():
    """A run selecting by CoT-Binary (svgap.loop.verification with `mtg_methods`) gets that method's scores
    in its verify table, at the loop verifier's temperature and top-p; with verifier.methods auto none of TF,
    QE and P(correct) (a list adds them), the other MTG columns stay null, and the table has every verify
    column."""
    from helpers import verifier_params

    from svgap import tables
    from svgap.columns import COLUMNS
    from svgap.config import load as load_config
    from svgap.loop.verification import verify_samples
    from svgap.tasks import make_task

    def reply(text, seed, j):
        last = text.rsplit("Question:", 1)[-1]
        if "Correctness" in last:
            return f"Correctness: <{'correct' if 'right' in last.split('Attempted solution:')[-1] else 'incorrect'}>"
        return "True"  # the TF and QE replies

    config = load_config(root=ROOT)
    verifier = {**verifier_params(config, "cot_binary"), "temperature": 0.3, "top_p": 0.8}
    assert verifier["methods"] == [] and "tf_template" not in verifier and "qe_scale" not in verifier
    data = {"train": pl.DataFrame({"prompt_id": ["a", "b"], "prompt": ["What is 1 + 1?", "What is 2 + 2?"]})}
    gens = tables.with_split({"train": pl.DataFrame({"prompt_id": ["a", "a", "b"], "sample": [0, 1, 0],
                                                     "text": ["right", "wrong", "right"]})})
    tokenizer = WordTokenizer()
    backend = ScriptedBackend(reply, tokenizer)
    table = verify_samples(({"chat_template": False}, tokenizer, backend), make_task("arithmetic"), data, gens,
                           verifier=verifier, seed=0, t=1, where="test", mtg_methods=("cot_binary",))
    assert set(COLUMNS["verify"]) <= set(table.columns)
    assert table["cot_binary"].to_list() == [1.0, 0.0, 1.0] and table["cot_binary_parsed"].all()
    assert all(table[c].null_count() == 3
               for c in ("tf_score", "qe_score", "p_correct", "mc", "cot_score", "tournament"))
    assert {(t, p) for _, _, t, p in backend.calls} == {(0.3, 0.8)}
    listed = verify_samples(({"chat_template": False}, tokenizer, backend), make_task("arithmetic"), data, gens,
                            verifier={**verifier_params(config), "methods": ["tf"], "temperature": 0.3, "top_p": 0.8},
                            seed=0, t=1, where="test", mtg_methods=("cot_binary",))
    assert listed["tf_score"].to_list() == [1.0, 1.0, 1.0] and listed["cot_binary"].to_list() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"verifier settings \['qe_template', 'qe_scale'\] missing, which methods "):
        verify_samples(({"chat_template": False}, tokenizer, backend), make_task("arithmetic"), data, gens,
                       verifier={**verifier, "methods": ["qe"]}, seed=0, t=1, where="test")
    plain = verify_samples(({"chat_template": False}, tokenizer, backend), make_task("arithmetic"), data, gens,
                           verifier=verifier, seed=0, t=1, where="test")
    assert plain["cot_binary"].null_count() == 3 and plain.columns == table.columns


def test_verifier_methods_compute_only_the_scores_asked_for(caplog):
    """`verifier.methods`: each method left out leaves its columns null and runs no model call; those computed
    equal the full table's (same seeds); P(correct) alone is one prefill of the TF prompts (no reply)."""
    from helpers import verifier_params

    from svgap import tables
    from svgap.config import VERIFIER_KEYS
    from svgap.config import load as load_config
    from svgap.loop.verification import verify_samples
    from svgap.tasks import make_task

    config = load_config(root=ROOT)
    assert verifier_params(config)["methods"] == ["tf"]  # the default, auto, for a run selecting by TF
    verifier = {k: config["verifier"][k] for k in VERIFIER_KEYS}  # every method's settings: the methods vary below
    data = {"train": pl.DataFrame({"prompt_id": ["a", "b"], "prompt": ["What is 1 + 1?", "What is 2 + 2?"]})}
    gens = tables.with_split({"train": pl.DataFrame({"prompt_id": ["a", "a", "b"], "sample": [0, 1, 0],
                                                     "text": ["right", "wrong", "right"]})})
    tokenizer = WordTokenizer()

    def run(methods):
        backend = ScriptedBackend(lambda text, seed, j: "True, 7", tokenizer)
        table = verify_samples(({"chat_template": False}, tokenizer, backend), make_task("arithmetic"), data, gens,
                               verifier={**verifier, "methods": methods}, seed=0, t=1, where="test")
        return table, len(backend.calls)

    full, calls = run(["tf", "qe", "p_correct"])
    columns = {"tf": ["tf_reply", "tf_score", "tf_parsed"], "qe": ["qe_reply", "qe_score", "qe_parsed"]}
    loop_columns = [*columns["tf"], *columns["qe"], "p_correct"]
    assert calls == 2 and full.select(loop_columns).null_count().sum_horizontal().item() == 0
    left_out = {("tf",): "qe", ("qe",): "tf, p_correct", ("qe", "tf"): "none", ("p_correct",): "tf, qe"}
    for methods, expected_calls in ((["tf"], 1), (["qe"], 1), (["qe", "tf"], 2), (["p_correct"], 0)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="svgap"):
            table, calls = run(methods)
        assert table.columns == full.columns and calls == expected_calls
        assert f"not computed: {left_out[tuple(methods)]}" in caplog.text  # tf's prefill gives P(correct)
        for method, names in columns.items():
            for name in names:
                assert table[name].to_list() == (full[name].to_list() if method in methods else [None] * 3)
        if "tf" in methods:  # from the TF reply's prefill, as in the full table
            assert table["p_correct"].to_list() == full["p_correct"].to_list()
        elif "p_correct" in methods:  # the stand-in's next-token distribution (0.3 after the loop's TF prompt),
            assert table["p_correct"].to_list() == pytest.approx([0.3] * 3)  # not its sampler's (uniform: 0.5)
            assert full["p_correct"].to_list() == pytest.approx([0.5] * 3)
        else:
            assert table["p_correct"].null_count() == 3
    empty, calls = run([])  # a run selecting by an MTG method alone (auto): none of the loop's scores
    assert calls == 0 and empty.select(loop_columns).null_count().sum_horizontal().item() == 3 * len(loop_columns)
    with pytest.raises(ValueError, match=r"verifier.methods 'auto' must be resolved"):
        run("auto")


def test_tournament_shots_alternate_the_position_of_the_correct_response():
    from svgap.gap.verify import messages, tournament_shots
    from svgap.tasks import make_task

    task = make_task("arithmetic")  # 4 examples: right, wrong, right, wrong
    shots = tournament_shots(task)
    assert [reply for _, reply in shots] == ["Preferred solution: <A>", "Preferred solution: <B>"]
    good = [s for s in task.verifier_shots if s.quality >= 0.5]
    assert shots[0][0]["response_a"] == good[0].response and shots[1][0]["response_b"] == good[1].response
    chat = messages(task, "tournament", True, question="q", response_a="x", response_b="y")
    assert len(chat) == 5 and chat[-1]["content"].count("Solution A: x") == 1
    assert len(messages(task, "tournament", False, question="q", response_a="x", response_b="y")) == 1
