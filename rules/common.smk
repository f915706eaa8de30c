# Shared names and the input functions (get_*) of the rules; the config checks live in svgap.config.
import functools
import itertools
import math
import re
import sys

sys.path.insert(0, f"{workflow.basedir}/workflow")  # the svgap library, for the checks and the paper index

# what planning needs, and nothing that imports the plotting or statistics libraries: this file runs at
# every Snakemake start (a dry run, each job on a cluster), and matplotlib, seaborn and scipy.stats took
# 3-4 s of it (tests/test_light_stages.py)
from svgap.config import (INFERENCE_KEYS, check, evaluated_checkpoints, pass_at_k_checkpoints, pass_at_k_ks,
                          verifier_settings)
from svgap.loop import cross
from svgap.gap.filters import METHODS as MTG_METHODS  # the methods svgap.gap.verify scores
from svgap.paper import CATEGORIES

check(config)

T = config["loop"]["epochs"]
HALF = config["loop"]["checkpoints_per_epoch"] == 2


def checkpoints():
    """The checkpoint labels evaluated (the `t` wildcard): 0, 1, ..., T, and 0.5, 1.5, ... with HALF."""
    return [f"{t:g}" for t in evaluated_checkpoints(config)]


def runs():
    """Every self-improvement run of the config (the baselines): dicts with model, task, method, seed."""
    r = config["runs"]
    return [
        dict(model=m, task=k, method=v, seed=s)
        for m, k, v, s in itertools.product(r["models"], r["tasks"], r["methods"], r["seeds"])
    ]


SCHEDULES = config["runs"]["schedules"]
CROSS = config["cross"]


def cross_runs():
    """Every cross-improvement run (rules/cross.smk): a baseline's settings and a schedule."""
    return [dict(run, schedule=s) for run in runs() for s in SCHEDULES]


def arm_of(method, schedule="baseline"):
    """The `arm` wildcard: the method, and a cross-improvement run's schedule below it."""
    return method if schedule == "baseline" else f"{method}/{schedule}"


ARM = re.compile(rf"(?P<method>{METHOD})(?:/(?P<schedule>[a-z][a-z0-9_]*))?")


def method_of(arm):
    return ARM.fullmatch(arm)["method"]


def mtg_of(methods):
    """The MTG methods among `methods`: what a verification job adds to the loop's scores (get_verifier)."""
    return [m for m in methods if m in MTG_METHODS]


def get_verifier(w):
    """The verifier settings of a run's generate_and_verify: verifier.methods resolved for the run's own method
    (`auto`: a TF run computes TF and P(correct), a QE run QE; svgap.config.verifier_settings)."""
    return verifier_settings(config, [method_of(w.arm)])


def mtg_methods(w):
    """The MTG verification the run's generate_and_verify adds to the loop's scores: its own method."""
    return mtg_of([method_of(w.arm)])


def schedule_of(arm):
    return ARM.fullmatch(arm)["schedule"] or "baseline"


def run_dir(model, task, method, seed, schedule="baseline"):
    """results/<run>: the folder of one run (<model>/<task>/<method>[/<schedule>]/seed<seed>)."""
    return f"results/{model}/{task}/{arm_of(method, schedule)}/seed{seed}"


def run_dirs():
    return [run_dir(**run) for run in runs() + cross_runs()]


@functools.cache
def external_counts(task, schedule):
    """n_t, the prompts first external at epoch t = 1..T (all 0 for the baseline): svgap.loop.cross."""
    if schedule == "baseline":
        return (0,) * T
    eta = cross.etas(schedule, T, CROSS["late_epoch"], CROSS["eta"])
    return tuple(cross.counts(eta, cross.budget(CROSS["budget"], config["tasks"][task]["n_train"])))


def first_external(w):
    """The first epoch whose finetune trains on external data; T + 1 (never) for a baseline."""
    return cross.first_epoch(list(external_counts(w.task, schedule_of(w.arm)))) or T + 1


def own_dir(w):
    """The folder of the run the wildcards name (a baseline's, or a cross-improvement run's)."""
    return f"results/{w.model}/{w.task}/{w.arm}/seed{w.seed}"


def home(w, epoch):
    """The folder of a run's state after `epoch` finetunes: a cross-improvement run shares the baseline's
    until its external data enter (the epochs before first_external), and has its own from then on."""
    if epoch < first_external(w):
        return run_dir(w.model, w.task, method_of(w.arm), w.seed)
    return own_dir(w)


def label_epoch(t):
    """The finetune epoch whose adapter a checkpoint label evaluates (t + 0.5: the half adapter of t + 1)."""
    return int(t) if t.isdigit() else int(float(t)) + 1


def get_final_outputs():
    return [
        f"{d}/{name}"
        for d in run_dirs()
        for name in ("trajectory.parquet", "trajectory.csv", "trajectory.png", "trajectory.pdf")
    ]


def get_task_files(w):
    """The local dataset files a task reads (svgap.tasks.dataset: train_path/test_path or path), so that
    editing one reruns the data rule and a missing one stops the plan naming it."""
    options = config["tasks"][w.task]["options"]
    return [str(options[k]) for k in ("train_path", "test_path", "path") if options.get(k)]


def adapter_of(w, t):
    """The LoRA adapter of epoch t; none for the base model (t = 0)."""
    return [] if t == 0 else f"{home(w, t)}/epoch{t}/adapter"


def get_adapter(w):
    """The adapter of checkpoint t; t + 0.5 is the half-epoch adapter the finetune of epoch t + 1 saves."""
    if w.t.isdigit():
        return adapter_of(w, int(w.t))
    return f"{home(w, label_epoch(w.t))}/epoch{label_epoch(w.t)}/adapter_half"


def get_previous_adapter(w):
    """The adapter the finetune producing epoch t starts from (epoch t-1's)."""
    return adapter_of(w, int(w.t) - 1)


def picks_home(w, t):
    """The folder of checkpoint t's picks and metrics: the picks of checkpoint t feed the finetune of epoch
    floor(t) + 1, so they are a cross-improvement run's own from t = first_external - 1 on."""
    return home(w, math.floor(float(t)) + 1)


def get_previous_picks(w):
    """The picks finetune trains epoch t on: those of checkpoint t-1."""
    return f"{picks_home(w, int(w.t) - 1)}/epoch{int(w.t) - 1}/picks.parquet"


def get_generations(w):
    """Checkpoint t's samples: in the folder of the model that made them (the adapter's)."""
    return f"{home(w, label_epoch(w.t))}/epoch{w.t}/generations.parquet"


def get_verify(w):
    return f"{home(w, label_epoch(w.t))}/epoch{w.t}/verify.parquet"


def get_external_scores(w):
    """A cross-improvement run's external responses scored at checkpoint t (none for a baseline)."""
    return [] if schedule_of(w.arm) == "baseline" else f"{own_dir(w)}/epoch{w.t}/external.parquet"


def get_chosen(w):
    return [] if schedule_of(w.arm) == "baseline" else f"{own_dir(w)}/chosen.parquet"


def get_metrics(w):
    return [f"{picks_home(w, t)}/epoch{t}/metrics.parquet" for t in checkpoints()]


def backend_of(model):
    """The inference backend of a model: its own `backend`, else `inference.backend`."""
    return config["models"][model].get("backend") or config["inference"]["backend"]


def inference_params(w):
    """The inference settings generate_and_verify uses: the model's backend and that backend's keys."""
    return inference_of(w.model)


def inference_of(model):
    backend = backend_of(model)
    return {"backend": backend} | {k: config["inference"][k] for k in INFERENCE_KEYS[backend]}


MODEL_ENVS = {"transformers": "../envs/model.yaml", "vllm": "../envs/vllm.yaml"}


def get_model_env(w):
    """The conda environment of a model job: the one of its model's backend (a cross-evaluation job's: its
    verifier's, or its solver's when it samples)."""
    if hasattr(w, "model"):
        return MODEL_ENVS[backend_of(w.model)]
    name = w.verifier if hasattr(w, "verifier") else w.solver
    return MODEL_ENVS[backend_of(CROSS_EVAL["models"][name]["model"])]


# one environment when every model uses the same backend: a fixed path, resolved once per rule
# (a function is called for every job, which a dry run of the paper grid notices)
_backends = {backend_of(m) for m in config["models"]}
MODEL_ENV = MODEL_ENVS[_backends.pop()] if len(_backends) == 1 else get_model_env


def task_params(w):
    """The task slice the stages need (kind and options)."""
    task = config["tasks"][w.task]
    return {"kind": task["kind"], "options": task["options"]}


def run_values(w):
    """The run's settings, repeated on every trajectory row."""
    return {
        "model": w.model,
        "task": w.task,
        "method": method_of(w.arm),
        "seed": int(w.seed),
        "n_samples": config["loop"]["n_samples"],
        "sigma": config["verifier"]["sigma"][method_of(w.arm)],
        "quantile": config["verifier"]["quantile"][method_of(w.arm)],
        "selection": config["verifier"]["selection"],
        "empty_policy": config["verifier"]["empty_policy"],
        "lr": config["finetune"]["lr"],
        "epochs": T,
        "schedule": schedule_of(w.arm),
    }


# ---- the analysis (rules/analysis.smk) ----
ANALYSIS = config["analysis"]


SIMULATE = config["simulate"] if config["runs"]["simulated"] else {}


def analysed_runs():
    """Every trajectory the analysis covers: (folder, labels) for runs, then simulated trajectories."""
    out = [(run_dir(**r), {**r, "seed": int(r["seed"])}) for r in runs()]
    for name, sim in SIMULATE.items():
        out.append((f"results/simulated/{name}",
                    dict(model="simulated", task=name, method="sim", seed=int(sim["seed"]))))
    return out


def run_settings(w):
    """One line of a run's settings for report captions (`{run}` wildcard: a run or simulated/<name>)."""
    parts = w.run.split("/")
    if parts[0] == "simulated":
        sim = config["simulate"][parts[1]]
        return (f"simulated trajectory {parts[1]}: U_s0 {sim['U_s0']}, U_v0 {sim['U_v0']}, alpha {sim['alpha']}, "
                f"beta {sim['beta']}, k {sim['k']}, b {sim['b']}, {sim['epochs']} epochs every {sim['step']}, "
                f"noise {sim['noise']}")
    model, task, *arm, seed = parts
    return loop_settings(model, task, arm_of(*arm), seed.removeprefix("seed"))


def loop_settings(model, task, arm, seed):
    loop, verifier = config["loop"], config["verifier"]
    method, schedule = method_of(arm), schedule_of(arm)
    external = "" if schedule == "baseline" else f", external data {schedule} {list(external_counts(task, schedule))}"
    return (f"model {model}, task {task}, method {method}{external}, seed {seed}: N = {loop['n_samples']}, "
            f"sigma = {verifier['sigma'][method]} ({verifier['empty_policy']} empty sets), T = {T} epochs, "
            f"{loop['checkpoints_per_epoch']} checkpoint(s) per epoch, {config['tasks'][task]['n_train']} train / "
            f"{config['tasks'][task]['n_test']} test prompts")


RUN_FIGURES = ("fits", "dgdt", "prediction", "comparison")
RUN_TABLES = ("fits", "dgdt", "correlation", "prediction_scores", "comparison", "cross")
ACROSS_RUNS = ("table2", "table4", "parameters", "comparison", "early")


def run_report(path, caption, category):
    """An output of one trajectory's analysis registered for the report: docs/report/<caption>.rst,
    the paper section CATEGORIES[category], one subcategory per run."""
    return report(path, caption=f"../docs/report/{caption}.rst", category=CATEGORIES[category], subcategory="{run}")


def get_analysis_outputs():
    per_run = [
        f"{d}/analysis/{name}"
        for d, _ in analysed_runs()
        for name in [f"{fig}.{ext}" for fig in RUN_FIGURES for ext in ("png", "pdf")]
        + [f"{table}.csv" for table in RUN_TABLES]
    ]
    across = [f"results/analysis/{name}.{ext}" for name in ACROSS_RUNS for ext in ("md", "tex", "html")]
    across += ["results/analysis/dgdt.png"]
    return per_run + (across if analysed_runs() else [])


def get_settings_outputs():
    return ["results/analysis/table3.html", "results/analysis/table3.md"] if runs() else []


def get_all_of(name):
    """The same per-run analysis file of every analysed trajectory, in analysed_runs() order."""
    return lambda w: [f"{d}/analysis/{name}" for d, _ in analysed_runs()]


def get_index_inputs():
    """Every file the index lists: the run's figures and tables (the index is made last)."""
    return (get_final_outputs() + get_analysis_outputs() + get_settings_outputs() + get_cross_outputs()
            + get_gap_outputs() + get_evaluation_outputs() + get_study_outputs())


def simulation_params(w):
    """A simulated trajectory's settings (the schema fills their defaults): its dynamics apart."""
    sim = dict(config["simulate"][w.name])
    dynamics = {k: sim.pop(k) for k in ("U_s0", "U_v0", "alpha", "beta", "k", "b")}
    return dict(name=w.name, dynamics=dynamics, **sim)


# ---- cross-improvement (rules/cross.smk) ----


def external_source(task):
    """The task's external-data source (cross.sources, reference when not listed), the teacher's cap resolved."""
    spec = dict(CROSS["sources"].get(task, {"source": "reference"}))
    if spec["source"] == "model":
        spec["max_new_tokens"] = spec.get("max_new_tokens") or config["loop"]["max_new_tokens"]
    return spec


def get_external_file(w):
    spec = external_source(w.task)
    return [spec["path"]] if spec["source"] == "file" else []


def get_teacher(w):
    spec = external_source(w.task)
    return [f"results/models/{spec['model']}/model.json"] if spec["source"] == "model" else []


def teacher_inference(w):
    spec = external_source(w.task)
    return inference_of(spec["model"]) if spec["source"] == "model" else {}


def get_external_env(w):
    spec = external_source(w.task)
    return MODEL_ENVS[backend_of(spec["model"])] if spec["source"] == "model" else MODEL_ENVS["transformers"]


TEACHER_FORCING = {"backend": "transformers"} | {k: config["inference"][k] for k in INFERENCE_KEYS["transformers"]}


def get_cross_outputs():
    """Table 1, its figure, the gamma estimates and the theory against the measurement (with schedules)."""
    if not SCHEDULES or not runs():
        return []
    return [f"results/cross/{name}" for name in
            ("table1.md", "table1.tex", "table1.csv", "table1.png", "table1.pdf", "gamma.md", "gamma.csv",
             "theory.md", "theory.csv")]


def cross_labels():
    """The baselines and cross-improvement runs of Table 1: (folder, labels)."""
    return [(run_dir(**r), {**r, "seed": int(r["seed"]), "schedule": "baseline"}) for r in runs()] + [
        (run_dir(**r), {**r, "seed": int(r["seed"])}) for r in cross_runs()]


def counts_by_task():
    """n_t of every task and schedule, for the tables (etas = n_t / M)."""
    return {task: {s: list(external_counts(task, s)) for s in SCHEDULES} for task in config["runs"]["tasks"]}


# ---- Mind the Gap (rules/gap.smk) ----
GAP = config["gap"]
GAP_METHODS = GAP["verifier"]["methods"]


def gap_pairs():
    """(model, task) of every generator the gap study measures (none while gap.models or gap.tasks is empty)."""
    return [(m, k) for m in GAP["models"] for k in GAP["tasks"]]


def gap_dir(model, task):
    return f"results/gap/{model}/{task}"


def get_gap_tables(w, name):
    """The same per-model table of every generator of the task, in gap.models order."""
    return [f"{gap_dir(m, w.task)}/{name}.parquet" for m in GAP["models"]]


def gap_figure_names():
    """The figures of rules/gap.smk's gap_figures that this config's methods make."""
    names = ["sweep", "distribution", "correlation"]
    names += ["tournament"] if "tournament" in GAP_METHODS else []
    names += ["cot_score"] if "cot_score" in GAP_METHODS else []
    names += ["variance"] if GAP["verifier"]["repeats"] else []
    return names


GAP_TABLES = ("gap", "relative_gap", "ensembles", "by_model")


def gap_report(path, caption, subcategory="{task}"):
    """A gap output registered for the report: docs/report/<caption>.rst, one subcategory per task."""
    return report(path, caption=f"../docs/report/{caption}.rst", category=CATEGORIES["gap"], subcategory=subcategory)


def get_gap_outputs():
    if not gap_pairs():
        return []
    out = []
    for task in GAP["tasks"]:
        out += [f"results/gap/{task}/{name}.{ext}" for name in GAP_TABLES for ext in ("md", "tex")]
        out += [f"results/gap/{task}/summary.csv"]
        out += [f"results/gap/{task}/{name}.{ext}" for name in gap_figure_names() for ext in ("png", "pdf")]
        out += [f"results/gap/{task}/correlation.csv"]
        out += [f"results/gap/{task}/position.csv"] if "tournament" in GAP_METHODS else []
        out += [f"results/gap/{task}/{name}" for name in ("scaling.md", "scaling.csv", "scaling_points.csv",
                                                          "scaling.png", "scaling.pdf", "scaling_gap.png",
                                                          "scaling_gap.pdf")]
    return out


# ---- evaluations over the runs (rules/evaluation.smk) ----
PASS_AT_K_T = pass_at_k_checkpoints(config)
PASS_AT_K_K = config["evaluation"]["pass_at_k"]["k"] or pass_at_k_ks(config["loop"]["n_samples"])


def get_pass_at_k_grades(w):
    """The grades tables of the run's pass@k checkpoints."""
    return [f"results/{w.model}/{w.task}/{w.arm}/seed{w.seed}/epoch{t:g}/grades.parquet" for t in PASS_AT_K_T]


def get_task_trajectories(w):
    """The trajectories of every self-improvement run (baseline) of a task: MTG Fig. 4's rounds."""
    return [f"{run_dir(**run)}/trajectory.parquet" for run in runs() if run["task"] == w.task]


def get_evaluation_outputs():
    out = []
    for run in runs():
        out += [f"{run_dir(**run)}/pass_at_k.{ext}" for ext in ("csv", "png", "pdf")]
    for task in dict.fromkeys(run["task"] for run in runs()):
        out += [f"results/iterative/{task}/rounds.{ext}" for ext in ("csv", "md", "png", "pdf")]
    return out


# ---- self-evaluation over N, cross-evaluation, training stages (rules/evaluation.smk) ----
EVALUATION = config["evaluation"]
N_SWEEP = EVALUATION["n_sweep"]
CROSS_EVAL = EVALUATION["cross"]
STAGES = EVALUATION["stages"]


def n_sweep_dir(model, task, seed):
    return f"results/n_sweep/{model}/{task}/seed{seed}"


def n_sweep_pairs():
    """(model, task) of every N sweep (none while evaluation.n_sweep.models or .tasks is empty)."""
    return [(m, k) for m in N_SWEEP["models"] for k in N_SWEEP["tasks"]]


def cross_entry(name):
    return CROSS_EVAL["models"][name]


def cross_names():
    return list(CROSS_EVAL["models"])


def is_run_checkpoint(name):
    """A cross-evaluation checkpoint that names a run: its responses are the run's own samples of t."""
    return "method" in cross_entry(name)


def cross_samples_of(name):
    """(seed, t) of a solver checkpoint's responses: its run's, or evaluation.cross.seed at t = 0."""
    entry = cross_entry(name)
    return (entry["seed"], entry["t"]) if is_run_checkpoint(name) else (CROSS_EVAL["seed"], 0)


def epoch_dir(model, task, method, seed, t):
    """The folder of checkpoint t of a baseline run: its samples, verdicts and (t >= 1) adapter."""
    return f"{run_dir(model, task, method, seed)}/epoch{t}"


def cross_adapter(name, task):
    """The LoRA adapter of a checkpoint: its run's of epoch t; none for a base model (t = 0)."""
    e = cross_entry(name)
    return [] if e["t"] == 0 else f"{epoch_dir(e['model'], task, e['method'], e['seed'], e['t'])}/adapter"


def cross_generations(name, task):
    """The responses of solver checkpoint `name` on `task`: its run's of checkpoint t, or its own sampling."""
    e = cross_entry(name)
    if is_run_checkpoint(name):
        return f"{epoch_dir(e['model'], task, e['method'], e['seed'], e['t'])}/generations.parquet"
    return f"results/cross_eval/{task}/{name}/generations.parquet"


def get_cross_generations(w):
    return cross_generations(w.solver, w.task)


def get_cross_solver_model(w):
    return f"results/models/{cross_entry(w.solver)['model']}/model.json"


def get_cross_verifier_model(w):
    return f"results/models/{cross_entry(w.verifier)['model']}/model.json"


def get_cross_verifier_adapter(w):
    return cross_adapter(w.verifier, w.task)


def get_cross_matrix_inputs(w):
    """Every solver's responses and every (solver, verifier) verification of the task, in the config's order."""
    names = cross_names()
    return {"generations": [cross_generations(s, w.task) for s in names],
            "verify": [f"results/cross_eval/{w.task}/{s}/by_{v}/verify.parquet" for s in names for v in names]}


def stage_runs(group):
    """The run folder of each stage of a training-stages group, in its order."""
    g = STAGES[group]
    return [run_dir(s["model"], g["task"], g["method"], g["seed"]) for s in g["stages"]]


def get_stage_fits(w):
    return [f"{d}/analysis/fits.parquet" for d in stage_runs(w.group)]


def get_stage_trajectories(w):
    return [f"{d}/trajectory.parquet" for d in stage_runs(w.group)]


def get_checkpoint_source(w):
    """A checkpoint model's base model and its run's adapter (models.<name>.of); nothing for other sources."""
    spec = config["models"][w.model]
    if spec["source"] != "checkpoint":
        return {}
    of = spec["of"]
    return {"base": f"results/models/{of['model']}/model.json",
            "adapter": f"{epoch_dir(of['model'], of['task'], of['method'], of['seed'], of['t'])}/adapter"}


def get_study_outputs():
    """The N sweep's, the cross-evaluation's and the training stages' tables and figures."""
    out = []
    for model, task in n_sweep_pairs():
        out += [f"{n_sweep_dir(model, task, N_SWEEP['seed'])}/n_sweep.{ext}" for ext in ("csv", "md", "png", "pdf")]
    if CROSS_EVAL["models"]:
        for task in CROSS_EVAL["tasks"]:
            out += [f"results/cross_eval/{task}/matrix.{ext}" for ext in ("csv", "md", "png", "pdf")]
    for group in STAGES:
        out += [f"results/stages/{group}/stages.{ext}" for ext in ("csv", "md", "png", "pdf")]
    return out
