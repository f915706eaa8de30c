"""config/paper/*.yaml: valid, SVG Table 3's settings, the paper's grid, and a DAG that plans.

The dry runs of every paper config (with their job counts and times) are in `.ci/run`
(`python workflow/benchmarks/dag.py`); here one config is planned through the Snakemake API.
"""

import shutil
from pathlib import Path

import pytest
from helpers import ROOT, clone, names, planned

from svgap.config import load as load_config

PAPER = sorted((ROOT / "config" / "paper").glob("*.yaml"))
MTG_PAPER = ("mtg", "mtg_iterative")  # Mind the Gap's: the gap study, and its iterative self-improvement (§5)
STUDY_PAPER = ("n_sweep", "cross_eval", "stages")  # SVG §4.3-§4.4: self- and cross-evaluation, training stages
SVG_PAPER = [p for p in PAPER if p.stem not in MTG_PAPER + STUDY_PAPER]
MODELS = {"phi-4-mini": "microsoft/Phi-4-mini-instruct", "phi-3.5-mini": "microsoft/Phi-3.5-mini-instruct",
          "phi-3-mini": "microsoft/Phi-3-mini-4k-instruct", "llama-3.2-3b": "meta-llama/Llama-3.2-3B-Instruct"}
# SVG §4, Figs. 10-17: these four self-improve; Llama-3.1-8B appears only in the sample-size study (Fig. 18)
TABLE3 = {  # SVG Table 3
    ("finetune", "lr"): 1e-5, ("finetune", "weight_decay"): 0.01, ("loop", "temperature"): 1.0,
    ("verifier", "temperature"): 0.1, ("loop", "n_samples"): 16, ("loop", "max_new_tokens"): 512,
    ("finetune", "lora_rank"): 16, ("finetune", "lora_dropout"): 0.5, ("finetune", "batch_size"): 256,
    ("loop", "epochs"): 10, ("loop", "checkpoints_per_epoch"): 2,
}


def merged(path: Path) -> dict:
    return load_config(path, root=ROOT)


def test_the_paper_configs_are_there():
    assert {p.stem for p in PAPER} == {"all", "cross", "math", "mtg", "mtg_iterative", "prontoqa_mbpp", "n_sweep",
                                       "cross_eval", "stages"}


@pytest.mark.parametrize("name", STUDY_PAPER)
def test_the_study_configs_have_table_3_and_the_papers_setup(name):
    """SVG §4.3's studies on the base models, §4.4's on EvoLM's three stages, all with Table 3's settings."""
    config = merged(ROOT / "config" / "paper" / f"{name}.yaml")
    for (section, key), value in TABLE3.items():
        assert config[section][key] == pytest.approx(value), f"{name}.yaml: {section}.{key}"
    assert config["runs"]["simulated"] is False
    ev = config["evaluation"]
    if name == "n_sweep":  # Fig. 18: the four and Llama-3.1-8B; N = 2 ... 64; TF and QE
        assert ev["n_sweep"]["models"] == [*MODELS, "llama-3.1-8b"] and config["runs"]["models"] == []
        assert config["models"]["llama-3.1-8b"]["id"] == "meta-llama/Llama-3.1-8B-Instruct"
        assert ev["n_sweep"]["n"] == [2, 4, 8, 16, 32, 64] and ev["n_sweep"]["methods"] == ["tf", "qe"]
        assert ev["n_sweep"]["tasks"] == ["math", "gsm8k", "prontoqa", "mbpp"]
    elif name == "cross_eval":  # Figs. 21-22: the four base models, N = 16, MATH, GSM8K, ProntoQA
        assert [e["model"] for e in ev["cross"]["models"].values()] == list(MODELS) and ev["cross"]["n_samples"] == 16
        assert ev["cross"]["tasks"] == ["math", "gsm8k", "prontoqa"] and config["runs"]["models"] == []
        assert all("method" not in e for e in ev["cross"]["models"].values())  # base models: their own sampling
    else:  # §4.4: Base-SFT, Mid-trained, Post-trained, self-improved with the same settings
        stages = ev["stages"]["evolm"]["stages"]
        assert [s["label"] for s in stages] == ["Base-SFT", "Mid-trained", "Post-trained"]
        assert config["runs"]["models"] == [s["model"] for s in stages]
        assert all(config["models"][s["model"]]["source"] == "hub" for s in stages)


@pytest.mark.parametrize("path", SVG_PAPER, ids=lambda p: p.stem)
def test_paper_config_has_table_3_and_the_paper_models(path):
    config = merged(path)
    for (section, key), value in TABLE3.items():
        assert config[section][key] == pytest.approx(value), f"{path.name}: {section}.{key}"
    # Table 1's cross-improvement runs (SVG §5.2) use two of the four
    models = ["phi-4-mini", "llama-3.2-3b"] if path.stem == "cross" else list(MODELS)
    assert config["runs"]["models"] == models
    for name in models:
        hub_id = MODELS[name]
        assert config["models"][name] == {**config["models"][name], "source": "hub", "id": hub_id}
    assert config["runs"]["simulated"] is False  # the embedded default's simulated reference stays out
    # Table 4 as the paper computed it (App. E): whole epochs, forward differences, no intercept
    assert config["analysis"]["dgdt"] == {"points": "epochs", "scheme": "forward", "intercept": False}


def test_the_grids_are_the_papers():
    runs = {p.stem: merged(p)["runs"] for p in SVG_PAPER}
    assert runs["all"]["tasks"] == ["gsm8k", "math", "prontoqa", "mbpp"] and runs["all"]["methods"] == ["tf", "qe"]
    assert runs["math"]["tasks"] == ["gsm8k", "math"] and runs["math"]["methods"] == ["tf", "qe"]
    assert runs["prontoqa_mbpp"]["tasks"] == ["prontoqa", "mbpp"] and runs["prontoqa_mbpp"]["methods"] == ["tf"]
    # SVG Table 1: MATH and GSM8K, QE, Early / Uniform / Late, repeated runs (three seeds, ours)
    assert runs["cross"]["tasks"] == ["math", "gsm8k"] and runs["cross"]["methods"] == ["qe"]
    assert runs["cross"]["schedules"] == ["early", "uniform", "late"] and runs["cross"]["seeds"] == [0, 1, 2]
    assert merged(ROOT / "config" / "paper" / "cross.yaml")["cross"]["late_epoch"] == 8


def test_the_cross_paper_config_plans_table_1_sharing_the_baselines_checkpoints(tmp_path):
    """Late (the eighth epoch) recomputes only from checkpoint 7 on: its picks there, its finetunes 8-10
    and the checkpoints after; Early and Uniform everything after t = 0's generations."""
    workdir = clone(tmp_path / "wf")
    (workdir / "data" / "external").mkdir(parents=True)
    for task in ("math", "gsm8k"):
        (workdir / "data" / "external" / f"{task}.jsonl").touch()
    out = planned(workdir, configfile="config/paper/cross.yaml")
    runs, seeds = 2 * 2, 3  # models x tasks (QE), seeds
    late = "results/phi-4-mini/math/qe/late/seed0"
    assert not names(out, f"{late}/epoch7/generations.parquet") and f"{late}/epoch7/picks.parquet" in out
    assert f"{late}/epoch8/generations.parquet" in out and not names(out, f"{late}/epoch6.5/")
    assert len(names(out, "/late/", "generations.parquet")) == runs * seeds * 6  # t = 7.5, 8, ..., 10
    assert len(names(out, "/early/", "generations.parquet")) == runs * seeds * 20  # t = 0.5, ..., 10
    assert len(names(out, "/qe/seed", "generations.parquet")) == runs * seeds * 21  # the baselines, t = 0..10
    assert {"results/cross/table1.md", "results/cross/gamma.md", "results/cross/theory.md"} <= out
    assert "results/external/math.parquet" in out


def test_a_paper_config_plans_every_half_epoch_checkpoint(tmp_path):
    workdir = clone(tmp_path / "wf")
    (workdir / "data").mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "prontoqa.json", workdir / "data" / "prontoqa.json")
    out = planned(workdir, configfile="config/paper/prontoqa_mbpp.yaml")
    checkpoints = 21  # t = 0, 0.5, ..., 10
    assert len(names(out, "generations.parquet")) == 4 * 2 * checkpoints  # models x tasks x t, both splits in each
    half = names(out, "adapter_half")
    assert len(half) == len(names(out, "/adapter") - half) == 4 * 2 * 10  # one of each per finetune
    assert names(out, "llama-3.2-3b/mbpp/tf/seed0/epoch9.5/metrics.parquet")
    assert not names(out, "llama-3.1-8b")
    assert not names(out, "simulated") and not names(out, "smollm2")
    assert "results/analysis/table2.md" in out


def test_a_missing_local_dataset_stops_the_plan_and_names_the_file(tmp_path):
    """The data rule's inputs are the task's files (rules/common.smk get_task_files): a paper config
    whose ProntoQA copy is absent fails before any job, naming the file; once there, it plans."""
    workdir = clone(tmp_path / "wf")
    with pytest.raises(RuntimeError, match="data/prontoqa.json"):
        planned(workdir, configfile="config/paper/prontoqa_mbpp.yaml")
    (workdir / "data").mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "prontoqa.json", workdir / "data" / "prontoqa.json")
    assert "results/data/prontoqa.parquet" in planned(workdir, configfile="config/paper/prontoqa_mbpp.yaml")


@pytest.mark.parametrize("path", SVG_PAPER, ids=lambda p: p.stem)
def test_the_table_3_of_the_report_states_the_paper_configs_values(path):
    """svgap.paper.TABLE3 (rule hyperparameters) gives the paper's value of each row it states: the rows are
    this test's Table 3, and config/paper/ has each value."""
    from svgap.paper import TABLE3 as REPORTED

    config = merged(path)
    stated = {(section, key): float(paper) for _, paper, (section, key) in REPORTED if paper != "not given"}
    assert stated == pytest.approx(TABLE3)
    for (section, key), value in stated.items():
        assert float(config[section][key]) == pytest.approx(value), f"{path.name}: {section}.{key}"


MTG_FAMILIES = {"qwen1.5": 7, "qwen2": 4, "qwen2.5": 7, "llama2": 3, "llama3": 2, "llama3.1": 2, "yi1.5": 3}


def test_the_mtg_paper_config_is_the_papers_setup():
    """MTG §3: the base models of its tables by hub id (no chat template), GSM8K, MATH, Natural Questions
    and Sudoku, temperature 0.7 and top-p 0.9 for generation and verification, 512 tokens, 128 samples,
    every verification method and MTG Table 3's filters; no self-improvement runs."""
    config = merged(ROOT / "config" / "paper" / "mtg.yaml")
    gap = config["gap"]
    assert config["runs"]["models"] == [] and config["runs"]["simulated"] is False
    families = {}
    for name in gap["models"]:
        spec = config["models"][name]
        assert spec["source"] == "hub" and spec["chat_template"] is False, name
        families[name.rsplit("-", 1)[0]] = families.get(name.rsplit("-", 1)[0], 0) + 1
    assert families == MTG_FAMILIES
    assert config["models"]["qwen1.5-72b"]["id"] == "Qwen/Qwen1.5-72B"
    assert config["models"]["llama3.1-8b"]["id"] == "meta-llama/Llama-3.1-8B"
    assert gap["tasks"] == ["gsm8k", "math", "nq", "sudoku"]
    assert {config["tasks"][t]["kind"] for t in gap["tasks"]} == {"gsm8k", "math", "nq", "sudoku"}
    assert (gap["n_samples"], gap["max_new_tokens"], gap["temperature"], gap["top_p"]) == (128, 512, 0.7, 0.9)
    v = gap["verifier"]
    assert (v["temperature"], v["top_p"], v["max_new_tokens"]) == (0.7, 0.9, 512)
    assert v["methods"] == ["mc", "cot_binary", "cot_score", "tournament"]
    assert set(gap["filters"]) == {"MC top 0.7", "MC top 0.8", "MC tau 0.7", "MC tau 0.8", "CoT-B", "CoT-S tau 8",
                                   "CoT-S tau 9", "To round 5"}  # MTG Table 3's columns
    assert config["tasks"]["gsm8k"]["n_test"] == 1319 and config["tasks"]["math"]["n_test"] == 5000
    assert config["tasks"]["nq"]["n_test"] == 3610
    # MTG Figs. 1, 12: every generator has its pre-training compute, 6 N D from the families' token counts
    from svgap.config import pretraining_flops

    assert all(pretraining_flops(m, config["models"][m].get("scale")) for m in gap["models"])
    assert pretraining_flops("llama2-7b", config["models"]["llama2-7b"]["scale"]) == pytest.approx(6 * 7e9 * 2e12)


def test_the_mtg_paper_config_plans_one_sampling_and_verification_per_model_and_task(tmp_path):
    workdir = clone(tmp_path / "wf")
    (workdir / "data" / "nq_open").mkdir(parents=True)
    for split in ("train", "validation"):
        (workdir / "data" / "nq_open" / f"{split}.jsonl").touch()
    out = planned(workdir, configfile="config/paper/mtg.yaml")
    n = sum(MTG_FAMILIES.values()) * 4
    assert len(names(out, "results/gap/", "/generations.parquet")) == n
    assert len(names(out, "results/gap/", "/scores.parquet")) == n
    for task in ("gsm8k", "math", "nq", "sudoku"):
        assert {f"results/gap/{task}/gap.md", f"results/gap/{task}/ensembles.md", f"results/gap/{task}/sweep.png",
                f"results/gap/{task}/tournament.png", f"results/gap/{task}/position.csv",
                f"results/gap/{task}/scaling.png", f"results/gap/{task}/scaling_gap.png"} <= out
    assert not names(out, "variance.png")  # repeats are off in the paper's main grid
    assert not names(out, "/seed0/")  # no self-improvement runs


def test_the_mtg_iterative_config_is_section_5s_setup():
    """MTG §5 / App. F: the Qwen-1.5 family on GSM8K, CoT-Binary and MC top 0.7, rejection sampling,
    MTG's sampling for generation and verification, lr 1e-6 and minibatch 64."""
    config = merged(ROOT / "config" / "paper" / "mtg_iterative.yaml")
    runs = config["runs"]
    assert runs["models"] == ["qwen1.5-0.5b", "qwen1.5-1.8b", "qwen1.5-4b", "qwen1.5-7b", "qwen1.5-14b"]
    assert all(config["models"][m]["id"].startswith("Qwen/Qwen1.5-") for m in runs["models"])
    assert runs["tasks"] == ["gsm8k"] and runs["methods"] == ["cot_binary", "mc"]
    v, loop = config["verifier"], config["loop"]
    assert v["selection"] == "rejection" and v["sigma"]["cot_binary"] == 1 and v["quantile"]["mc"] == 0.7
    assert v["quantile"]["cot_binary"] is None
    assert (loop["temperature"], loop["top_p"], v["temperature"], v["top_p"]) == (0.7, 0.9, 0.7, 0.9)
    assert (config["finetune"]["lr"], config["finetune"]["batch_size"]) == (1e-6, 64)


def test_the_mtg_iterative_config_plans_its_rounds(tmp_path):
    """Every model x method runs T = 4 rounds: a generate-and-verify job per checkpoint 0..4, a finetune
    per round, and no gap study."""
    workdir = clone(tmp_path / "wf")
    out = planned(workdir, configfile="config/paper/mtg_iterative.yaml")
    verify = names(out, "results/qwen1.5-", "/verify.parquet")
    assert len(verify) == 5 * 2 * 5
    assert "results/qwen1.5-7b/gsm8k/mc/seed0/epoch4/verify.parquet" in verify
    assert len(names(out, "results/qwen1.5-", "/adapter")) == 5 * 2 * 4
    assert not names(out, "results/gap/")
