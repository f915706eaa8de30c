"""The workflow's config outside a Snakemake run: config/config.yaml overlaid with other files.

`snakemake --configfile a.yaml b.yaml` loads config/config.yaml (the Snakefile's `configfile:`),
merges each file over it with `snakemake.utils.update_config` (nested mappings key by key, anything
else replaced) and validates the result against config/schema.yaml, which fills in the defaults.
`load` does the same for the benchmarks and the tests that call the library directly. `check` holds
the cross-references the schema cannot express; the Snakefile calls it after validating.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml


def load(*overlays: Path, root: Path = Path(".")) -> dict:
    """config/config.yaml of the workflow at `root`, each overlay merged over it, schema defaults filled."""
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    for path in overlays:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(root / "config" / "schema.yaml"))
    check(config)
    return config


TEMPLATE_KEYS = ("tf_template", "qe_template")
# What the rule generate_and_verify reads of the config (rules/loop.smk): the verifier's settings (sigma and
# empty_policy are select's), and per backend the `inference` keys that backend uses (`threads` is the
# job's thread count, not a setting of its results), so tuning one backend reruns none of the other's jobs.
VERIFIER_KEYS = ("methods", "temperature", "top_p", "max_new_tokens", "tf_template", "qe_template", "correct_words",
                 "incorrect_words", "qe_scale", "tournament_rounds")
LOOP_METHODS = ("tf", "qe", "p_correct")  # verifier.methods: the scores the loop's verify stage can compute
TF_KEYS = ("tf_template", "correct_words", "incorrect_words")  # the TF prompt's: the TF reply and P(correct)
QE_KEYS = ("qe_template", "qe_scale")
INFERENCE_KEYS = {"transformers": ("device", "dtype", "max_batch_tokens", "max_batch_rows"),
                  "vllm": ("device", "dtype", "vllm")}


def computed_scores(methods: Sequence[str]) -> set[str]:
    """The loop's scores a list of verifier.methods computes: P(correct) comes with TF, from its prefill."""
    return set(methods) | ({"p_correct"} if "tf" in methods else set())


def prompt_keys(methods: Sequence[str]) -> tuple[str, ...]:
    """The verifier settings of the prompts `methods` are computed from: the TF prompt's for tf and p_correct,
    QE's for qe."""
    return (*(TF_KEYS if {"tf", "p_correct"} & set(methods) else ()), *(QE_KEYS if "qe" in methods else ()))


def verifier_methods(config: dict, uses: Sequence[str]) -> list[str]:
    """The scores a verification job computes (`svgap.loop.verification`): verifier.methods where it lists
    them, and where it is `auto` (the default), the loop's methods among `uses`: the methods the job's
    responses are selected or evaluated by (a run's own method; the N sweep's or the cross-evaluation's
    methods). P(correct) comes with TF either way, from the TF prompt's prefill. A run that selects by an
    MTG method alone computes none of the three (its own method's scores come from `svgap.gap.verify`)."""
    methods = config["verifier"]["methods"]
    return [m for m in LOOP_METHODS if m in uses] if methods == "auto" else list(methods)


def verifier_settings(config: dict, uses: Sequence[str]) -> dict:
    """What a verification job reads of the verifier section (`VERIFIER_KEYS`), its methods resolved
    (`verifier_methods`): the `verifier` param of rule generate_and_verify and of the evaluations' verify rules.
    The prompt settings of a method the job does not compute are left out (QE's for a TF run), so that changing
    them reruns only the jobs that compute it."""
    methods = verifier_methods(config, uses)
    unused = set(TF_KEYS + QE_KEYS) - set(prompt_keys(methods))
    return {**{k: config["verifier"][k] for k in VERIFIER_KEYS if k not in unused}, "methods": methods}


def check_template(key: str, template: str) -> None:
    """A verifier template may fill in {question} and {response} only; the error names the config key."""
    try:
        template.format(question="", response="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"config verifier.{key}: only {{question}} and {{response}} may be filled in "
                         f"(write literal braces as {{{{ }}}}): {exc!r}") from exc


def check(config: dict) -> None:
    """What the schema cannot express: run names defined, verifier templates that fill in. The message
    names the offending key."""
    for section in ("models", "tasks"):
        for name in config["runs"][section]:
            if name not in config[section]:
                raise ValueError(f"config runs.{section}: {name!r} is not defined under {section} "
                                 f"(defined: {sorted(config[section])})")
    for key in TEMPLATE_KEYS:
        check_template(key, config["verifier"][key])
    computed = config["verifier"]["methods"]
    ev = config["evaluation"]
    users = [("runs.methods", "a run selects by", config["runs"]["methods"])]
    users += [(f"evaluation.{key}.methods", what, ev[key]["methods"])
              for key, what in (("n_sweep", "the N sweep evaluates by"), ("cross", "cross-evaluation evaluates by"))
              if ev[key]["tasks"] and ev[key]["models"]]
    if computed != "auto":  # auto computes what each job uses
        for key, what, methods in users:
            for method in methods:
                if method in LOOP_METHODS and method not in computed_scores(computed):
                    raise ValueError(f"config {key}: {what} {method!r}, which verifier.methods {computed} does not "
                                     f"compute; add it there (or leave verifier.methods auto)")
    cross = config["cross"]
    if config["verifier"]["selection"] == "rejection" and config["runs"]["schedules"]:
        raise ValueError("config verifier.selection: rejection sampling gives a prompt several targets, while a "
                         "cross-improvement run (runs.schedules) gives a chosen prompt one external target in place "
                         "of its pick; run the schedules with selection: bon")
    for name in config["runs"]["schedules"]:
        if name not in ("early", "uniform", "late") and name not in cross["eta"]:
            raise ValueError(f"config runs.schedules: {name!r} is neither early, uniform, late nor defined under "
                             f"cross.eta (defined: {sorted(cross['eta'])})")
    for name, shares in cross["eta"].items():
        if len(shares) != config["loop"]["epochs"]:
            raise ValueError(f"config cross.eta.{name}: {len(shares)} shares for loop.epochs = "
                             f"{config['loop']['epochs']}")
        if abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"config cross.eta.{name}: the shares sum to {sum(shares):g}, not 1")
    for task, spec in cross["sources"].items():
        if task not in config["tasks"]:
            raise ValueError(f"config cross.sources: {task!r} is not defined under tasks "
                             f"(defined: {sorted(config['tasks'])})")
        if spec["source"] == "model" and spec["model"] not in config["models"]:
            raise ValueError(f"config cross.sources.{task}.model: {spec['model']!r} is not defined under models "
                             f"(defined: {sorted(config['models'])})")
    check_gap(config)
    check_evaluation(config)


def evaluated_checkpoints(config: dict) -> list[float]:
    """Every checkpoint t a run evaluates: 0..T, with the half epochs when checkpoints_per_epoch is 2."""
    loop = config["loop"]
    return [k / loop["checkpoints_per_epoch"] for k in range(loop["epochs"] * loop["checkpoints_per_epoch"] + 1)]


def pass_at_k_checkpoints(config: dict) -> list[float]:
    """evaluation.pass_at_k.checkpoints, or its default: 0, the checkpoint nearest T / 2 (the lower of two),
    and T."""
    given = config["evaluation"]["pass_at_k"]["checkpoints"]
    if given:
        return sorted(set(float(t) for t in given))
    ts = evaluated_checkpoints(config)
    T = float(config["loop"]["epochs"])
    middle = min(ts, key=lambda t: (abs(t - T / 2), t))
    return sorted({0.0, middle, T})


def pass_at_k_ks(n: int) -> list[int]:
    """The default k of pass@k for N = n samples: 1, 2, 4, ... up to n, and n itself (evaluation.pass_at_k.k
    when it is empty). Here, not in svgap.evaluation.passk: rules/common.smk plans with it, and that module
    brings matplotlib, seaborn and scipy.stats into every Snakemake start (3-4 s)."""
    return sorted({2**i for i in range(n.bit_length())} | {n}) if n >= 1 else []


def check_evaluation(config: dict) -> None:
    """pass@k's checkpoints are ones the runs evaluate, and its k at most N; the N sweep's, the
    cross-evaluation's, the training stages' and checkpoint models' names and runs defined."""
    spec = config["evaluation"]["pass_at_k"]
    ts = evaluated_checkpoints(config)
    missing = [t for t in spec["checkpoints"] if float(t) not in ts]
    if missing:
        raise ValueError(f"config evaluation.pass_at_k.checkpoints: {missing} are not checkpoints the runs evaluate "
                         f"(loop.epochs {config['loop']['epochs']}, checkpoints_per_epoch "
                         f"{config['loop']['checkpoints_per_epoch']}: {[f'{t:g}' for t in ts]})")
    big = [k for k in spec["k"] if k > config["loop"]["n_samples"]]
    if big:
        raise ValueError(f"config evaluation.pass_at_k.k: {big} exceed loop.n_samples = {config['loop']['n_samples']}")
    ev = config["evaluation"]
    for key in ("n_sweep", "cross"):
        for section in (("models", "tasks") if key == "n_sweep" else ("tasks",)):
            _defined(config, f"evaluation.{key}.{section}", ev[key][section], section)
    for name, entry in ev["cross"]["models"].items():
        where = f"config evaluation.cross.models.{name}"
        _defined(config, f"evaluation.cross.models.{name}.model", [entry["model"]], "models")
        if "method" in entry or "seed" in entry:
            for task in ev["cross"]["tasks"]:
                _run_defined(config, where, entry["model"], task, entry.get("method"), entry.get("seed"))
            _epoch(config, where, entry["t"], first=0)
        elif entry["t"] != 0:
            raise ValueError(f"{where}: t = {entry['t']} names a run's checkpoint; give the run's method and seed")
    for name, group in ev["stages"].items():
        for stage in group["stages"]:
            _run_defined(config, f"config evaluation.stages.{name} ({stage['label']})", stage["model"],
                         group["task"], group["method"], group["seed"])
    for name, spec in config["models"].items():
        if spec["source"] == "checkpoint":
            of, where = spec["of"], f"config models.{name}.of"
            if of["model"] == name:
                raise ValueError(f"{where}: a model cannot be a checkpoint of its own runs")
            _run_defined(config, where, of["model"], of["task"], of["method"], of["seed"])
            _epoch(config, where, of["t"], first=1)


def _defined(config: dict, key: str, names: list[str], section: str) -> None:
    missing = [n for n in names if n not in config[section]]
    if missing:
        raise ValueError(f"config {key}: {missing} are not defined under {section} "
                         f"(defined: {sorted(config[section])})")


def _run_defined(config: dict, where: str, model: str, task: str, method: str | None, seed: int | None) -> None:
    """The run (model, task, method, seed) is one of runs' combinations; the message names `where`."""
    r = config["runs"]
    if method is None or seed is None:
        raise ValueError(f"{where}: a run's checkpoint needs both method and seed")
    for value, section in ((model, "models"), (task, "tasks"), (method, "methods"), (seed, "seeds")):
        if value not in r[section]:
            raise ValueError(f"{where}: the run {model}/{task}/{method}/seed{seed} is not among the runs "
                             f"({value!r} is not in runs.{section}: {r[section]})")


def _epoch(config: dict, where: str, t: int, first: int) -> None:
    if not first <= t <= config["loop"]["epochs"]:
        raise ValueError(f"{where}: t = {t} is not an epoch {first}..loop.epochs = {config['loop']['epochs']}")


def pretraining_flops(name: str, scale: dict | None) -> float | None:
    """Pre-training FLOPs of a model from its metadata (config models.<name>.scale): `flops`, else 6 x params x
    tokens; None without. Mind the Gap's scaling fits (svgap.evaluation.scaling) use it; it lives here, where
    the config is checked at every Snakemake start, so that the check imports no plotting library."""
    if not scale:
        return None
    if scale.get("flops"):
        return float(scale["flops"])
    if scale.get("params") and scale.get("tokens"):
        return 6.0 * float(scale["params"]) * float(scale["tokens"])
    raise ValueError(f"config models.{name}.scale: give flops, or both params and tokens")


def check_gap(config: dict) -> None:
    """The gap study's names: models and tasks defined, filters of ensembles and summary defined, every
    filter and ensemble well formed (svgap.gap.filters.parse)."""
    from svgap.gap.filters import parse

    gap = config["gap"]
    for section in ("models", "tasks"):
        for name in gap[section]:
            if name not in config[section]:
                raise ValueError(f"config gap.{section}: {name!r} is not defined under {section} "
                                 f"(defined: {sorted(config[section])})")
    parse(gap["filters"], gap["ensembles"])
    unknown = [f for f in gap["summary"] if f not in gap["filters"] and f not in gap["ensembles"]]
    if unknown:
        raise ValueError(f"config gap.summary: {unknown} are neither gap.filters nor gap.ensembles")
    unknown = [f for f in gap["scaling"]["filters"] if f not in gap["filters"] and f not in gap["ensembles"]]
    if unknown:
        raise ValueError(f"config gap.scaling.filters: {unknown} are neither gap.filters nor gap.ensembles")
    for name in gap["models"]:
        pretraining_flops(name, config["models"][name].get("scale"))
