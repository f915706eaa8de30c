"""Every table and figure of both papers, and the outputs of the workflow that reproduce each.

`ITEMS` is the one list: each paper item (SVG = Sun et al., ICLR 2026; MTG = Song et al., "Mind the
Gap", ICLR 2025) with what it shows and the output patterns (paths below results/) that reproduce it;
an item with no pattern is not built by svgap (the note says why). `CATEGORIES` names the report's
sections, which follow the papers; the rules register each figure and table in one of them
(`report(..., category=CATEGORIES[...])` in rules/*.smk). The `index` rule writes results/index.md
from this list: per item, the files this config made, or "not produced by this config".
A test keeps the rules' report outputs and these patterns in step.

Patterns: `{task}`, `{model}` and `{group}` are a task's, a model's and a training-stages group's name,
`{seed}` a seed;
`{run}` is a run folder (<model>/<task>/<method>/seed<seed>, <model>/<task>/<method>/<schedule>/seed<seed>
for a cross-improvement run, or simulated/<name> for the
analysis of a simulated trajectory); every other part is literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = {
    "trajectories": "SVG §4.2 Self-improvement trajectories (Figs. 3, 10-13)",
    "fits": "SVG §3.2 / §4.2 The exponential law (Figs. 4, 14-17; Prop. 3.1, Cor. 3.2)",
    "dgdt": "SVG §3.2 dG/dt against G and memorylessness (Figs. 2, 8; Table 4)",
    "correlation": "SVG §4.2 Uncertainty against accuracy (Table 2)",
    "settings": "SVG App. D Hyperparameters (Table 3)",
    "cross": "SVG §5 Cross-improvement (Prop. 5.1, Table 1)",
    "gap": "MTG §4-§6 The generation-verification gap (Defs. 2.1, 2.2; Tables 1-7; Figs. 5-7, 11, 14-19)",
    "evaluation": ("SVG §4.3-§4.4, App. D.2 / MTG §4-§5 Evaluations: self- and cross-evaluation, training stages, "
                   "pass@k, iterative self-improvement (SVG Figs. 5, 9, 18-23; MTG Figs. 3, 4, 13)"),
    "extensions": "svgap: early prediction and the choice of law",
    "index": "Index of the papers' tables and figures",
}


@dataclass(frozen=True)
class Item:
    paper: str  # "SVG" or "MTG"
    id: str  # as the paper numbers it: "Figure 2", "Table 4", "Prop. 3.1", "Def. 2.1"
    what: str
    outputs: tuple[str, ...] = ()  # patterns below results/
    note: str = ""  # where no output reproduces it: why; else a caveat


INDEX = "index.md"  # results/index.md, the index itself (rule `index`)
TRAJECTORY = ("{run}/trajectory.png", "{run}/trajectory.csv")
FITS = ("{run}/analysis/fits.png", "{run}/analysis/fits.csv")
DGDT = ("{run}/analysis/dgdt.png", "{run}/analysis/dgdt.csv", "analysis/dgdt.png")
NOT_YET = "svgap does not build it yet"
PASS_AT_K = ("{run}/pass_at_k.png", "{run}/pass_at_k.csv")
N_SWEEP = tuple(f"n_sweep/{{model}}/{{task}}/seed{{seed}}/n_sweep.{ext}" for ext in ("png", "csv", "md"))
CROSS_EVAL = ("cross_eval/{task}/matrix.png", "cross_eval/{task}/matrix.csv", "cross_eval/{task}/matrix.md")
STAGES = ("stages/{group}/stages.png", "stages/{group}/stages.csv", "stages/{group}/stages.md")
ROUNDS = ("iterative/{task}/rounds.png", "iterative/{task}/rounds.md")
GAP_ONLY = "with gap.models and gap.tasks (config/mtg.yaml, config/paper/mtg.yaml)"
BY_MODEL = ("gap/{task}/by_model.md", "gap/{task}/by_model.tex")
UNIMPROVABLE = (*BY_MODEL, "gap/{task}/gap.md")
NQ = "a Natural Questions task (kind nq), or config/mtg.yaml's stand-in, the guess task"
SUDOKU = "a sudoku task under gap.tasks"

ITEMS: tuple[Item, ...] = (
    Item("SVG", "Figure 1", "illustration: accuracy on exponential curves; external data at different times",
         note="an illustration; its measured counterparts are Figures 3 and 4 and Prop. 5.1"),
    Item("SVG", "Figure 2", "dG/dt against G with a linear fit (Phi-4-mini, QE)", DGDT),
    Item("SVG", "Figure 3", "solver and verifier accuracy and uncertainty per epoch (Phi-4-mini, QE)", TRAJECTORY),
    Item("SVG", "Figure 4", "exponential fits of U_s, U_v and G with R^2 (train split)", FITS),
    Item("SVG", "Figure 5", "training stages (EvoLM Base-SFT, Mid-trained, Post-trained), train split", STAGES,
         note="with evaluation.stages (config/paper/stages.yaml; config/evaluation.yaml on one model)"),
    Item("SVG", "Figure 6", "diagram of the theoretical framework", note="a diagram"),
    Item("SVG", "Figure 7", "diagram of cross-improvement", note="a diagram"),
    Item("SVG", "Figure 8", "dG/dt against G (Phi-3.5-mini, Phi-3-mini, Llama-3.2-3B, QE)", DGDT),
    Item("SVG", "Figure 9", "training stages, test split", STAGES, note="with evaluation.stages"),
    Item("SVG", "Figure 10", "accuracy and uncertainty per epoch, QE (Phi-3.5-mini, Phi-3-mini, Llama-3.2-3B)",
         TRAJECTORY),
    Item("SVG", "Figure 11", "accuracy and uncertainty per epoch, TF (four models, MATH and GSM8K)", TRAJECTORY),
    Item("SVG", "Figure 12", "accuracy and uncertainty per epoch, TF, ProntoQA", TRAJECTORY),
    Item("SVG", "Figure 13", "accuracy and uncertainty per epoch, TF, MBPP", TRAJECTORY),
    Item("SVG", "Figure 14", "uncertainty against epochs with exponential fits, train split", FITS),
    Item("SVG", "Figure 15", "uncertainty against epochs with exponential fits, test split", FITS),
    Item("SVG", "Figure 16", "uncertainty against epochs with exponential fits, ProntoQA", FITS),
    Item("SVG", "Figure 17", "uncertainty against epochs with exponential fits, MBPP", FITS),
    Item("SVG", "Figure 18", "solver and verifier against the sample size N (MATH, GSM8K; with Llama-3.1-8B)",
         N_SWEEP, note="with evaluation.n_sweep (config/paper/n_sweep.yaml)"),
    Item("SVG", "Figure 19", "solver and verifier against the sample size N (ProntoQA)", N_SWEEP,
         note="with evaluation.n_sweep"),
    Item("SVG", "Figure 20", "solver and verifier against the sample size N (MBPP)", N_SWEEP,
         note="with evaluation.n_sweep"),
    Item("SVG", "Figure 21", "cross-evaluation, QE, N = 16: solver model x verifier model", CROSS_EVAL,
         note="with evaluation.cross (config/paper/cross_eval.yaml)"),
    Item("SVG", "Figure 22", "cross-evaluation, TF, N = 16", CROSS_EVAL, note="with evaluation.cross"),
    Item("SVG", "Figure 23", "pass@K at t = 0, 5, 10", PASS_AT_K,
         note="at evaluation.pass_at_k.checkpoints (default 0, T / 2, T)"),
    Item("SVG", "Table 1", "cross-improvement runs: Early / Uniform / Late against the baseline",
         ("cross/table1.md", "cross/table1.tex", "cross/table1.csv", "cross/table1.png"),
         note="runs with runs.schedules only"),
    Item("SVG", "Table 2", "Pearson r between uncertainty and accuracy, with significance stars",
         ("analysis/table2.html", "analysis/table2.md", "analysis/table2.tex", "{run}/analysis/correlation.csv")),
    Item("SVG", "Table 3", "hyperparameters of the self-improvement runs",
         ("analysis/table3.html", "analysis/table3.md")),
    Item("SVG", "Table 4", "partial F-test: does G(t-1) add to G(t) in explaining dG/dt",
         ("analysis/table4.html", "analysis/table4.md", "analysis/table4.tex", "{run}/analysis/dgdt.csv")),
    Item("SVG", "Prop. 3.1", "the joint fit: rate k(alpha - beta), limits, identifiable parameters",
         ("analysis/parameters.html", "analysis/parameters.md", "analysis/parameters.tex",
          "{run}/analysis/fits.csv")),
    Item("SVG", "Cor. 3.2", "epochs until |G - G_inf| < epsilon",
         ("analysis/parameters.html", "{run}/analysis/fits.csv")),
    Item("SVG", "Prop. 5.1", "external data given Early / Uniform / Late, from a run's fitted dynamics",
         ("{run}/analysis/cross.csv", "cross/theory.md", "cross/theory.csv")),
    Item("SVG", "Eq. 12", "gamma, the efficiency of external data, measured in the runs (two readings)",
         ("cross/gamma.md", "cross/gamma.csv"), note="runs with runs.schedules only"),
    Item("SVG", "Figure 1 (right)", "accuracy with external data given at different times: measured",
         ("cross/table1.png",), note="runs with runs.schedules only"),
    Item("SVG", "Abstract", "predicting the limit from the first few epochs",
         ("{run}/analysis/prediction.png", "{run}/analysis/prediction_scores.csv", "analysis/early.html",
          "analysis/early.md", "analysis/early.tex")),
    Item("svgap", "Law comparison", "the exponential law against a power law, a line and persistence",
         ("{run}/analysis/comparison.png", "{run}/analysis/comparison.csv", "analysis/comparison.html",
          "analysis/comparison.md", "analysis/comparison.tex")),
    Item("MTG", "Def. 2.1", "generation-verification gap", ("gap/{task}/gap.md", "gap/{task}/summary.csv"),
         note=GAP_ONLY),
    Item("MTG", "Def. 2.2", "relative generation-verification gap",
         ("gap/{task}/relative_gap.md", "gap/{task}/summary.csv"), note=GAP_ONLY),
    Item("MTG", "Figure 1", "relative gap against pre-training FLOPs",
         ("gap/{task}/scaling.png", "gap/{task}/scaling.md"),
         note="with models.<name>.scale (config/paper/mtg.yaml)"),
    Item("MTG", "Figure 2", "diagram of rejection sampling", note="a diagram"),
    Item("MTG", "Figure 3", "cross-verification gap: generator x verifier", CROSS_EVAL,
         note="the matrices' gv_gap, with an MTG method under evaluation.cross.methods"),
    Item("MTG", "Figure 4", "iterative self-improvement: accuracy, gap, pass@k per round", (*ROUNDS, *PASS_AT_K),
         note="rejection sampling with config/paper/mtg_iterative.yaml; the RL update (RPO) is not built"),
    Item("MTG", "Figure 5", "gap as the filtering threshold varies", ("gap/{task}/sweep.png",), note=GAP_ONLY),
    Item("MTG", "Figure 6", "tournament: accuracy and gap per round", ("gap/{task}/tournament.png",), note=GAP_ONLY),
    Item("MTG", "Figure 7", "per-prompt gap distributions; correlation of verification methods",
         ("gap/{task}/distribution.png", "gap/{task}/correlation.png", "gap/{task}/correlation.csv"), note=GAP_ONLY),
    Item("MTG", "Figure 8", "temperature ablation of the relative gap", note=NOT_YET),
    Item("MTG", "Figure 9", "instruct models", note=NOT_YET),
    Item("MTG", "Figure 10", "effective diversity (pass@k) along self-improvement", note=NOT_YET),
    Item("MTG", "Figure 11", "verifier variance over repeated verifications", ("gap/{task}/variance.png",),
         note="with gap.verifier.repeats > 0"),
    Item("MTG", "Figure 12", "gap against pre-training FLOPs (no scaling)",
         ("gap/{task}/scaling_gap.png", "gap/{task}/scaling.md"), note="with models.<name>.scale"),
    Item("MTG", "Figure 13", "iterative self-improvement, Qwen-1.5 family, CoT-Binary", (*ROUNDS, *PASS_AT_K),
         note="MATH: config/paper/mtg_iterative.yaml with tasks.math in place of gsm8k"),
    Item("MTG", "Figure 14", "gap as the threshold varies (all methods)", ("gap/{task}/sweep.png",), note=GAP_ONLY),
    Item("MTG", "Figure 15", "tournament rounds (all models)", ("gap/{task}/tournament.png",), note=GAP_ONLY),
    Item("MTG", "Figure 16", "CoT-Score distribution; tournament first-position bias",
         ("gap/{task}/cot_score.png", "gap/{task}/position.csv"), note=GAP_ONLY),
    Item("MTG", "Figure 17", "per-prompt gap distributions of every method", ("gap/{task}/distribution.png",),
         note=GAP_ONLY),
    Item("MTG", "Figure 18", "correlation of the verification methods' outputs",
         ("gap/{task}/correlation.png", "gap/{task}/correlation.csv"), note=GAP_ONLY),
    Item("MTG", "Figure 19", "correlation of gap and generation accuracy",
         ("gap/{task}/correlation.png", "gap/{task}/correlation.csv"), note=GAP_ONLY),
    Item("MTG", "Table 1", "gap on Natural Questions (Qwen-2)", UNIMPROVABLE, note=NQ),
    Item("MTG", "Table 2", "accuracy, gap and relative gap on 4x4 Sudoku (Qwen-2)", BY_MODEL, note=SUDOKU),
    Item("MTG", "Table 3", "gap on GSM8K per model and verification method",
         ("gap/{task}/gap.md", "gap/{task}/gap.tex"), note=GAP_ONLY),
    Item("MTG", "Table 4", "relative gap on GSM8K per model and verification method",
         ("gap/{task}/relative_gap.md", "gap/{task}/relative_gap.tex"), note=GAP_ONLY),
    Item("MTG", "Table 5", "gap on Natural Questions (all models)", UNIMPROVABLE, note=NQ),
    Item("MTG", "Table 6", "accuracy, gap and relative gap on Sudoku (all models)", BY_MODEL, note=SUDOKU),
    Item("MTG", "Table 7", "ensembles: logical AND of verification methods",
         ("gap/{task}/ensembles.md", "gap/{task}/ensembles.tex"), note=GAP_ONLY),
    Item("MTG", "Table 8", "hyperparameters of iterative self-improvement", note=NOT_YET),
)


# SVG Table 3 (and the batch, epochs and checkpoints of App. D.2) and what the paper leaves open (docs/design.md):
# (row, the paper's value, the config key of this run's value)
TABLE3 = (
    ("Learning rate", "1e-5", ("finetune", "lr")),
    ("Weight decay", "0.01", ("finetune", "weight_decay")),
    ("Solver temperature", "1", ("loop", "temperature")),
    ("Verifier temperature", "0.1", ("verifier", "temperature")),
    ("Sample size (N)", "16", ("loop", "n_samples")),
    ("Max new tokens", "512", ("loop", "max_new_tokens")),
    ("LoRA rank", "16", ("finetune", "lora_rank")),
    ("LoRA dropout", "0.5", ("finetune", "lora_dropout")),
    ("Batch size (App. D.2)", "256", ("finetune", "batch_size")),
    ("Epochs (App. D.2)", "10", ("loop", "epochs")),
    ("Checkpoints per epoch (App. D.2)", "2", ("loop", "checkpoints_per_epoch")),
    ("LoRA alpha", "not given", ("finetune", "lora_alpha")),
    ("LoRA target modules", "not given", ("finetune", "target_modules")),
    ("Gradient clipping norm", "not given", ("finetune", "max_grad_norm")),
    ("Verifier reply tokens", "not given", ("verifier", "max_new_tokens")),
    ("Threshold sigma (tf, qe, mc)", "not given", ("verifier", "sigma")),
    ("Prompts with no candidate", "not given", ("verifier", "empty_policy")),
)


def item_patterns() -> set[str]:
    """Every output pattern some item names (below results/)."""
    return {p for item in ITEMS for p in item.outputs}


def pattern_regex(pattern: str) -> re.Pattern:
    """The regex of an output pattern below results/ ({run}: a run folder or simulated/<name>)."""
    run = r"(?:[^/]+/[^/]+/[^/]+(?:/[^/]+)?/seed\d+|simulated/[^/]+)"
    regex = re.escape(pattern).replace(re.escape("{run}"), run)
    for name in ("{task}", "{model}", "{group}"):
        regex = regex.replace(re.escape(name), "[^/]+")
    regex = regex.replace(re.escape("{seed}"), r"\d+")
    return re.compile("^results/" + regex + "$")


def produced(item: Item, targets: list[str]) -> list[str]:
    """The files among a config's `targets` (paths starting with results/) that reproduce `item`."""
    regexes = [pattern_regex(p) for p in item.outputs]
    return sorted(t for t in targets if any(r.match(t) for r in regexes))


def index_markdown(targets: list[str]) -> str:
    """results/index.md: every item of both papers with the files of this config that reproduce it."""
    out = ["# Index: the papers' tables and figures, and the files that reproduce them", "",
           "SVG: Sun et al., ICLR 2026 (the solver-verifier gap); MTG: Song et al., ICLR 2025 (Mind the "
           "Gap); svgap: additions of this workflow. Paths are relative to this folder (results/).", ""]
    for paper in ("SVG", "svgap", "MTG"):
        out += [f"## {paper}", "", "| item | what | files |", "|---|---|---|"]
        for item in (i for i in ITEMS if i.paper == paper):
            files = produced(item, targets)
            if files:
                cell = "<br>".join(f"[`{f.removeprefix('results/')}`]({f.removeprefix('results/')})" for f in files)
            elif item.outputs:
                cell = "not produced by this config"
            else:
                cell = f"not produced by this config ({item.note})"
            out.append(f"| {item.id} | {item.what} | {cell} |")
        out.append("")
    return "\n".join(out)
