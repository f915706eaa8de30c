"""Cross-improvement without a model: schedules, budgets, the chosen prompts, the substituted picks,
external files, reference responses, gamma and Table 1 (svgap.loop.cross, svgap.loop.external,
svgap.dynamics.gamma, svgap.dynamics.table1)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from svgap.dynamics import gamma as gm
from svgap.dynamics import table1
from svgap.loop import bon, cross, external
from svgap.loop.metrics import compute
from svgap.tasks import make_task

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("T", [1, 3, 10])
@pytest.mark.parametrize("M", [0, 1, 7, 24])
def test_every_schedule_spends_the_same_budget(T, M):
    custom = {"front": [0.5] + [0.5 / (T - 1)] * (T - 1)} if T > 1 else {"front": [1.0]}
    for schedule in ("early", "uniform", "late", "front"):
        eta = cross.etas(schedule, T, 8, custom)
        assert eta.sum() == pytest.approx(1.0)
        n = cross.counts(eta, M)
        assert sum(n) == M and len(n) == T and min(n) >= 0
    assert cross.counts(cross.etas("early", T, 8), M)[0] == M
    assert cross.counts(cross.etas("late", T, 8), M)[min(8, T) - 1] == M


def test_uniform_counts_round_by_largest_remainder():
    assert cross.counts(cross.etas("uniform", 3, 8), 7) == [3, 2, 2]
    assert cross.counts(np.array([0.25, 0.25, 0.5]), 6) == [2, 1, 3]


def test_late_epoch_past_the_run_is_clipped_with_a_warning(caplog):
    with caplog.at_level("WARNING"):
        eta = cross.etas("late", 3, 8)
    assert eta.tolist() == [0.0, 0.0, 1.0]
    assert "late_epoch 8 is past loop.epochs 3" in caplog.text
    assert cross.etas("late", 10, 8).tolist()[7] == 1.0


def test_bad_schedules_name_their_key():
    with pytest.raises(ValueError, match=r"cross.eta.front: 2 shares for 3 epochs"):
        cross.etas("front", 3, 8, {"front": [0.5, 0.5]})
    with pytest.raises(ValueError, match=r"cross.eta.front: shares must be >= 0 and sum to 1"):
        cross.etas("front", 2, 8, {"front": [0.5, 0.6]})
    with pytest.raises(ValueError, match="unknown schedule 'sometimes'"):
        cross.etas("sometimes", 3, 8)
    with pytest.raises(ValueError, match="M = 30 external responses, but the task has 24"):
        cross.budget({"count": 30}, 24)
    assert cross.budget({"share": 0.25}, 24) == 6


def test_chosen_prompts_are_one_draw_for_every_schedule_of_a_seed():
    ids = [f"p{i}" for i in range(24)]
    tables = {s: cross.chosen_prompts(ids, cross.counts(cross.etas(s, 3, 8), 6), task="add", seed=0)
              for s in ("early", "uniform", "late")}
    order = tables["early"]["prompt_id"].to_list()
    assert len(set(order)) == 6 and set(order) <= set(ids)
    for s, table in tables.items():
        assert table["prompt_id"].to_list() == order, s  # the same prompts, in the same order of entry
    assert tables["early"]["epoch"].to_list() == [1] * 6
    assert tables["uniform"]["epoch"].to_list() == [1, 1, 2, 2, 3, 3]
    assert tables["late"]["epoch"].to_list() == [3] * 6
    other = cross.chosen_prompts(ids, [6, 0, 0], task="add", seed=1)
    assert other["prompt_id"].to_list() != order


def test_chosen_prompts_table_is_identical_across_processes(tmp_path):
    """Two separate interpreters (different hash seeds) write the same bytes."""
    (tmp_path / "ext.parquet").write_bytes(b"")
    pl.DataFrame({"prompt_id": [f"{i}+{i}" for i in range(20)], "response": "r", "source": "reference",
                  "pred": "1", "correct": True}).write_parquet(tmp_path / "ext.parquet")
    code = ("import sys; sys.path.insert(0, 'workflow'); from svgap.stages import chosen_prompts; "
            "chosen_prompts(external=sys.argv[1], out=sys.argv[2], n=[2, 2, 1], task='add', seed=3)")
    for k, hashseed in enumerate(("1", "2")):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "ext.parquet"), str(tmp_path / f"c{k}.parquet")],
                       cwd=ROOT, check=True, env={"PYTHONHASHSEED": hashseed, "PATH": ""})
    assert (tmp_path / "c0.parquet").read_bytes() == (tmp_path / "c1.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "c0.parquet").height == 5


def test_a_chosen_prompt_is_external_from_its_epoch_on():
    chosen = pl.DataFrame({"prompt_id": ["a", "b", "c"], "epoch": [1, 2, 3]})
    assert cross.external_at(chosen, 0) == ["a"]
    assert cross.external_at(chosen, 0.5) == ["a"]
    assert cross.external_at(chosen, 1) == ["a", "b"]
    assert cross.external_at(chosen, 1.5) == ["a", "b"]
    assert cross.external_at(chosen, 2) == ["a", "b", "c"]
    assert cross.external_at(chosen, 3) == ["a", "b", "c"]


def _samples():
    """Three prompts, two samples each, as svgap.loop.grading.samples gives them."""
    return pl.DataFrame({
        "prompt_id": ["a", "a", "b", "b", "c", "c"], "sample": [0, 1] * 3,
        "nll": [2.0, 1.0, 4.0, 3.0, 6.0, 5.0], "length": [2, 2, 4, 4, 3, 3], "finished": [True] * 6,
        "text": ["x"] * 6, "correct": [False, True, False, False, True, True],
        "tf_score": [1.0] * 6, "tf_parsed": [True] * 6, "qe_score": [1.0] * 6, "qe_parsed": [True] * 6,
        "p_correct": [0.5] * 6, "prompt_token_ids": [[1, 2]] * 6, "token_ids": [[3, 4]] * 6,
    })


def _external():
    return pl.DataFrame({"prompt_id": ["b"], "prompt_token_ids": [[1, 2]], "token_ids": [[7, 8, 9, 2]],
                         "length": [4], "nll": [12.0], "correct": [True]})


def test_substituted_picks_carry_the_external_target_and_what_bon_chose():
    picks = bon.picks(_samples(), method="tf", sigma=0.5, empty_policy="skip")
    assert picks["source"].to_list() == ["bon"] * 3
    mixed = cross.substitute(picks, _external(), ["b"])
    row = mixed.filter(pl.col("prompt_id") == "b").row(0, named=True)
    assert row["source"] == "external" and row["sample"] == 1  # what the self-verifier picked
    target = (row["nll"], row["length"], row["correct"], row["token_ids"], row["score"])
    assert target == (12.0, 4, True, [7, 8, 9, 2], None)
    assert mixed.filter(pl.col("prompt_id") != "b").equals(picks.filter(pl.col("prompt_id") != "b").with_columns(
        pl.col("score").cast(mixed["score"].dtype)))
    m = compute(_samples(), mixed, "tf_score", 0.5)
    assert m["U_v"] == pytest.approx((1.0 + 12.0 + 5.0) / 3)  # U_v^c: the mixed picks
    assert m["U_v_bon"] == pytest.approx((1.0 + 3.0 + 5.0) / 3)  # the self-verifier's own
    assert m["acc_v"] == pytest.approx(1.0) and m["acc_v_bon"] == pytest.approx(2 / 3)
    assert m["n_external"] == 1 and m["external_share"] == pytest.approx(1 / 3)
    plain = compute(_samples(), picks, "tf_score", 0.5)
    assert plain["U_v"] == plain["U_v_bon"] and plain["n_external"] == 0


def test_substitute_fails_on_a_chosen_prompt_without_a_scored_response():
    picks = bon.picks(_samples(), method="tf", sigma=0.5, empty_policy="skip")
    with pytest.raises(ValueError, match=r"no scored external response for chosen prompt\(s\) \['c'\]"):
        cross.substitute(picks, _external(), ["b", "c"])


def _data(ids):
    return pl.DataFrame({"split": "train", "prompt_id": ids, "prompt": [f"q {i}" for i in ids],
                         "answer": "1", "meta": "{}"})


def test_external_file_lacking_a_prompt_is_an_error_naming_it(tmp_path):
    path = tmp_path / "teacher.jsonl"
    path.write_text("\n".join(json.dumps({"prompt_id": p, "response": "The answer is 1."}) for p in ("a", "c", "zz")))
    with pytest.raises(ValueError, match=r"teacher.jsonl: no external response for train prompt\(s\) \['b'\]"):
        external.from_file(path, _data(["a", "b", "c"]))
    kept = external.from_file(path, _data(["a", "b", "c"]), missing="skip")  # counted and logged, never chosen
    assert kept["prompt_id"].to_list() == ["a", "c"]
    pl.DataFrame({"prompt_id": ["a", "a"], "response": ["x", "y"]}).write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(ValueError, match=r"dup.parquet: prompt id\(s\) \['a'\] have more than one response"):
        external.from_file(tmp_path / "dup.parquet", _data(["a"]))
    pl.DataFrame({"prompt_id": ["a"], "answer": ["x"]}).write_parquet(tmp_path / "cols.parquet")
    with pytest.raises(ValueError, match=r"cols.parquet: external responses need the column\(s\) \['response'\]"):
        external.from_file(tmp_path / "cols.parquet", _data(["a"]))


def _items(kind, options):
    task = make_task(kind, options)
    return task, task.items(2, 1, 0)["train"]


TASKS = {
    "arithmetic": {"ops": ["+", "-", "*"]},
    "logic": {"depth": 2},
    "sudoku": {},
    "gsm8k": {"path": str(FIXTURES / "gsm8k.jsonl")},
    "math": {"path": str(FIXTURES / "math.jsonl")},
    "prontoqa": {"path": str(FIXTURES / "prontoqa.json")},
    "mbpp": {"path": str(FIXTURES / "mbpp.jsonl")},
    "nq": {"path": str(FIXTURES / "nq.jsonl")},
}


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_reference_responses_are_graded_correct(kind):
    task, items = _items(kind, TASKS[kind])
    assert items
    for item in items:
        response = task.reference(item)
        assert task.grade(response, item.answer, item.meta)["correct"], (kind, item.prompt_id, response)
        # and grading is not trivially true: another item's answer in the same form is wrong
    other = next(it for it in items if it.answer != items[0].answer) if len({i.answer for i in items}) > 1 else None
    if other is not None and kind not in ("mbpp",):
        assert not task.grade(task.reference(other), items[0].answer, items[0].meta)["correct"]


def test_reference_table_through_the_grader():
    task = make_task("arithmetic", {})
    items = task.items(5, 1, 0)["train"]
    data = pl.DataFrame({"prompt_id": [i.prompt_id for i in items], "prompt": [i.question for i in items],
                         "answer": [i.answer for i in items], "meta": [json.dumps(i.meta) for i in items]})
    table = external.graded(task, data, external.reference(task, data), "reference")
    assert table["correct"].all() and table["source"].to_list() == ["reference"] * 5
    wrong = external.graded(task, data, pl.DataFrame({"prompt_id": data["prompt_id"], "response": "The answer is 99."}),
                            "file")
    assert not wrong["correct"].any()


def _trajectory(schedule, seed, rows):
    """Train rows (t, acc_s, acc_v, U_s, U_v, U_v_bon, n_external) of one run."""
    return pl.DataFrame([{"split": "train", "model": "m", "task": "k", "method": "qe", "seed": seed,
                          "schedule": schedule, "epochs": 2, "t": float(t), "acc_s": a, "acc_v": v, "U_s": us,
                          "U_s_tok": us / 10, "U_v": uv, "U_v_bon": ub, "U_v_tok": uv / 10, "U_v_bon_tok": ub / 10,
                          "n_external": n, "external_share": n / 4}
                         for t, a, v, us, uv, ub, n in rows])


def test_table1_rows_follow_the_paper():
    traj = pl.concat([
        _trajectory("baseline", 0, [(0, 0.30, 0.40, 10, 5, 5, 0),
                                    (1, 0.40, 0.5, 8, 4, 4, 0), (2, 0.45, 0.5, 7, 4, 4, 0)]),
        _trajectory("baseline", 1, [(0, 0.32, 0.42, 10, 5, 5, 0),
                                    (1, 0.41, 0.5, 8, 4, 4, 0), (2, 0.47, 0.5, 7, 4, 4, 0)]),
        _trajectory("early", 0, [(0, 0.30, 0.60, 10, 6, 5, 2), (1, 0.5, 0.6, 8, 5, 4, 2), (2, 0.50, 0.6, 6, 5, 4, 2)]),
        _trajectory("early", 1, [(0, 0.32, 0.62, 10, 6, 5, 2), (1, 0.5, 0.6, 8, 5, 4, 2), (2, 0.54, 0.6, 6, 5, 4, 2)]),
        _trajectory("late", 0, [(0, 0.30, 0.40, 10, 5, 5, 0), (1, 0.4, 0.6, 8, 5, 4, 2), (2, 0.48, 0.6, 6, 5, 4, 2)]),
        _trajectory("late", 1, [(0, 0.32, 0.42, 10, 5, 5, 0), (1, 0.41, 0.6, 8, 5, 4, 2), (2, 0.50, 0.6, 6, 5, 4, 2)]),
    ], how="diagonal_relaxed")
    ext = pl.DataFrame({"task": ["k"] * 4, "correct": [True, True, True, False]})
    t1 = {r["row"]: r for r in table1.table1(traj, ext).iter_rows(named=True)}
    assert t1["Initial"]["acc_s"] == pytest.approx(31.0)
    assert t1["Initial"]["acc_s_std"] == pytest.approx(np.std([30, 32], ddof=1))
    assert t1["Baseline"]["acc_s"] == pytest.approx(46.0)
    assert t1["Early"]["acc_s"] == pytest.approx(52.0) and t1["Late"]["acc_s"] == pytest.approx(49.0)
    assert t1["Max-Min"]["acc_s"] == pytest.approx(3.0) and t1["Avg"]["acc_s"] == pytest.approx(50.5)
    assert t1["Avg vs Initial"]["acc_s"] == pytest.approx(19.5) and t1["Avg vs Baseline"]["acc_s"] == pytest.approx(4.5)
    assert t1["Early(t = 0) vs Initial (Verifier)"]["acc_s"] == pytest.approx(20.0)
    assert t1["External data"]["acc_s"] == pytest.approx(75.0)
    assert t1["Early"]["U_s"] == pytest.approx(6.0)
    wide = table1.wide(table1.table1(traj, ext))
    assert list(wide["Strategy"])[:4] == ["Initial", "Baseline", "Early", "Late"]
    assert wide.iloc[0, 1] == f"31.00 (± {np.std([30, 32], ddof=1):.2f})"


def test_gamma_under_both_readings_recovers_the_truth():
    """Ratios made from Eq. 12 with gamma 0.8 under the cumulative reading: that reading gets 0.8 and a
    zero residual; the new-share reading misses (Early's later epochs have eta = 0)."""
    counts = {"k": {"early": [4, 0, 0], "uniform": [2, 1, 1]}}
    rows = []
    for schedule, n in counts["k"].items():
        eta, H = gm.shares(n)
        for c in range(3):
            if H[c] > 0:
                rows.append({"split": "train", "model": "m", "task": "k", "method": "qe", "seed": 0,
                             "schedule": schedule,
                             "t": float(c), "n_external": int(4 * H[c]), "external_share": H[c], "U_v": 5.0,
                             "U_v_bon": 5.0 * (1 + 0.8 * H[c])})
    pts = gm.points(pl.DataFrame(rows), counts, "total")
    assert pts.height == 6
    est = {(r["reading"], r["scope"]): r for r in gm.estimates(pts, 0.9).iter_rows(named=True)}
    assert est[("cumulative", "pooled")]["gamma"] == pytest.approx(0.8)
    assert est[("cumulative", "pooled")]["rss"] == pytest.approx(0.0, abs=1e-18)
    assert est[("new", "pooled")]["rss"] > 0.1
    assert est[("new", "early")]["gamma"] == pytest.approx(0.8)  # its only eta > 0 is at entry, where H = eta


def test_theory_feeds_the_fitted_products_and_gamma_into_the_iteration():
    from svgap.dynamics import cross as theory_cross

    fits = pl.DataFrame({"split": "train", "fit": "joint", "status": "ok",
                         "quantity": ["rate", "alpha_p", "beta_p", "U_s_inf", "U_v_inf", "U_s0", "U_v0"],
                         "estimate": [0.3, 30.0, 10.0, 55.0, 45.0, 100.0, 60.0]})
    traj = pl.concat([_trajectory(s, 0, [(0, 0.3, 0.4, 100, 60, 60, 0), (2, 0.5, 0.5, 80, 50, 50, 0)])
                      for s in ("baseline", "early", "late")])
    gamma = pl.DataFrame({"model": "m", "task": "k", "method": "qe", "reading": ["new", "cumulative"],
                          "scope": "pooled",
                          "gamma": [0.5, 0.5]})
    counts = {"k": {"early": [4, 0], "late": [0, 4]}}
    th = gm.theory(traj, {("m", "k", "qe", 0): fits}, gamma, counts, "total")
    assert th.height == 6
    from svgap.dynamics.theory import identified
    p = identified(0.3, 30.0, 10.0, 55.0, 45.0, discrete=True)
    products = {k: p[k] for k in ("k_alpha", "k_beta", "alpha_b", "beta_b")}
    want = theory_cross.exact(np.array([60.0, 100.0, 1.0]), np.array([1.0, 1.0]), 0.5, **products)[1]
    got = th.filter((pl.col("reading") == "cumulative") & (pl.col("schedule") == "early"))["U_s_T_exact"][0]
    assert got == pytest.approx(want)
    assert th.filter(pl.col("schedule") == "early")["U_s_T_measured"].to_list() == [80.0, 80.0]
    summ = gm.summary(th)
    assert "Max-Min" in summ["schedule"].to_list()
