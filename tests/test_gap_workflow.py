"""Mind the Gap through the real DAG (config/ci.yaml's gap section, the embedded model): every method's
scores for every response, its unparsed replies counted, the tournament's bracket, the repeats, and
tables whose numbers follow from the per-response tables."""

import polars as pl
import pytest

from svgap import tables

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gap(ci_run):
    return ci_run / "results" / "gap"


def test_every_response_has_every_methods_score(gap):
    here = gap / "smollm2-135m" / "add"
    gens = tables.read(here / "generations.parquet", "generations")
    scores = tables.read(here / "scores.parquet", "gap_scores")
    assert set(gens["split"]) == {"test"} and gens.height == 6 * 4  # gap.split, n_test x n_samples
    assert scores.height == gens.height
    for method in ("mc", "cot_binary", "cot_score", "tournament"):
        assert scores[method].null_count() == 0, method
    assert scores["mc"].is_between(0, 1).all()
    assert set(scores["cot_binary"]) <= {0.0, 1.0} and scores["cot_score"].is_between(1, 10).all()
    # an unparsed reply carries its rule's score: 0 for CoT-Binary, 1 for CoT-Score
    assert (scores.filter(~pl.col("cot_binary_parsed"))["cot_binary"] == 0).all()
    assert (scores.filter(~pl.col("cot_score_parsed"))["cot_score"] == 1).all()


def test_the_tournament_bracket_and_the_repeats(gap):
    here = gap / "smollm2-135m" / "add"
    scores = tables.read(here / "scores.parquet", "gap_scores")
    matches = tables.read(here / "matches.parquet", "gap_matches")
    # 4 responses per prompt: 2 + 1 matches, one winner with 2 rounds, one with 1, two with 0
    assert matches.group_by("prompt_id").len()["len"].to_list() == [3] * 6
    per_prompt = scores.group_by("prompt_id").agg(pl.col("tournament").sort()).sort("prompt_id")
    assert per_prompt["tournament"].to_list() == [[0, 0, 1, 2]] * 6
    assert set(matches["decided_by"]) <= {"verdict", "coin"} and matches["reply"].null_count() == 0
    repeats = tables.read(here / "repeats.parquet", "gap_repeats")
    assert repeats.height == 6 * 1 * 2 and set(repeats["sample"]) == {0}  # repeat_samples 1, repeats 2
    variance = tables.read(here / "variance.parquet", "gap_variance")
    assert variance["variance"].is_between(0, 0.25).all() and (variance["k"] == 2).all()


def test_the_tables_follow_from_the_per_response_tables(gap):
    here = gap / "smollm2-135m" / "add"
    grades = tables.read(here / "grades.parquet", "grades")
    summary = tables.read(here / "summary.parquet", "gap_summary")
    acc = grades.group_by("prompt_id").agg(pl.col("correct").mean())["correct"].mean()
    assert summary["acc"].to_list() == pytest.approx([acc] * summary.height)
    # every filter and ensemble of the defaults was measured (all four methods ran)
    assert {"MC top 0.8", "CoT-B", "CoT-S tau 8", "To round 5", "All"} <= set(summary["filter"])
    # N = 4 plays 2 rounds: "To round 5" keeps nothing, and with gap.empty zero every prompt adds 0
    to5 = summary.filter(pl.col("filter") == "To round 5").row(0, named=True)
    assert to5["n_empty"] == 6 and to5["gap"] == 0
    prompts = tables.read(here / "prompts.parquet", "gap_prompts")
    b = prompts.filter(pl.col("filter") == "CoT-B")
    assert summary.filter(pl.col("filter") == "CoT-B")["gap"].item() == pytest.approx(b["gap"].fill_null(0).mean())
    table = tables.read(gap / "add" / "summary.parquet", "gap_table")
    assert table.height == summary.height and set(table["model"]) == {"smollm2-135m"}
    text = (gap / "add" / "gap.md").read_text()
    assert "MTG Table 3" in text and "smollm2-135m" in text and f"{100 * acc:.2f}" in text
    for name in ("sweep", "tournament", "distribution", "correlation", "cot_score", "variance"):
        assert (gap / "add" / f"{name}.png").stat().st_size > 0, name
    position = pl.read_parquet(gap / "add" / "position.parquet")
    assert position.filter(pl.col("round") == "all")["first_wins"].is_between(0, 1).all()


# MTG's iterative self-improvement (§5, Algorithm 1) on the loop's DAG: a run that verifies by CoT-Binary
# and fine-tunes on every kept response (rejection sampling), one epoch, on the CI config's task
MTG_LOOP = {"runs": {"methods": ["cot_binary"], "simulated": False},
            "loop": {"epochs": 1, "checkpoints_per_epoch": 1},
            "verifier": {"selection": "rejection", "max_new_tokens": 8},
            "gap": {"models": []}, "inference": {"threads": 2}}
RUN = "results/smollm2-135m/add/cot_binary/seed0"


@pytest.fixture(scope="module")
def mtg_loop(ci_run, tmp_path_factory):
    """A clone with the CI run's converted model, the run above made: its folder."""
    import yaml
    from helpers import clone, snakemake

    workdir = clone(tmp_path_factory.mktemp("mtg_loop") / "wf", models_from=ci_run)
    (workdir / "config" / "mtg-loop-ci.yaml").write_text(yaml.safe_dump(MTG_LOOP))
    done = snakemake(workdir, "--cores", "2", f"{RUN}/trajectory.parquet",
                     configfile=["config/ci.yaml", "config/mtg-loop-ci.yaml"])
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir / RUN


def test_the_loop_selects_by_cot_binary_and_trains_on_every_kept_response(mtg_loop):
    verify = tables.read(mtg_loop / "epoch0" / "verify.parquet", "verify")
    assert verify["cot_binary"].null_count() == 0 and set(verify["cot_binary"]) <= {0.0, 1.0}
    assert all(verify[c].null_count() == verify.height for c in ("mc", "cot_score", "tournament"))
    picks = tables.read(mtg_loop / "epoch0" / "picks.parquet", "picks").filter(pl.col("split") == "train")
    per_prompt = picks.group_by("prompt_id").agg(pl.len(), pl.col("n_candidates").first(), pl.col("fallback").all())
    # every candidate is a target; a prompt without one falls back to all N = 2 (ci.yaml: empty_policy all)
    expected = pl.when(pl.col("n_candidates") > 0).then(pl.col("n_candidates")).otherwise(2)
    assert (per_prompt["len"] == per_prompt.select(expected).to_series()).all()
    assert (picks.filter(~pl.col("fallback"))["score"] == 1.0).all()
    log = pl.read_parquet(mtg_loop / "epoch1" / "adapter" / "train_log.parquet")
    assert log["n_sequences"].sum() == picks.height  # one pass over every target
    metrics = tables.read(mtg_loop / "epoch0" / "metrics.parquet", "metrics").filter(pl.col("split") == "train")
    row = metrics.row(0, named=True)
    assert row["n_targets"] == picks.height and row["n_paired"] == 6
    assert row["U_v"] == pytest.approx(picks["nll"].mean())
    trajectory = tables.read(mtg_loop / "trajectory.parquet", "trajectory")
    assert trajectory["t"].unique().sort().to_list() == [0.0, 1.0]
    assert set(trajectory["selection"]) == {"rejection"} and set(trajectory["method"]) == {"cot_binary"}
    assert trajectory["gv_gap"].is_finite().all()
