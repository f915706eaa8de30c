# Shared names, config checks and input functions (get_*) of the rules.
import itertools


STAGE_SCRIPT = "../workflow/scripts/stage.py"
T = config["loop"]["epochs"]
HALF = config["loop"]["checkpoints_per_epoch"] == 2


def checkpoints():
    """The checkpoint labels evaluated (the `t` wildcard): 0, 1, ..., T, and 0.5, 1.5, ... with HALF."""
    whole = [str(t) for t in range(T + 1)]
    return sorted(whole + ([f"{t}.5" for t in range(T)] if HALF else []), key=float)



def check_config():
    """Cross-references the schema cannot express; the message names the offending key."""
    for section in ("models", "tasks"):
        for name in config["runs"][section]:
            if name not in config[section]:
                raise ValueError(
                    f"config runs.{section}: {name!r} is not defined under {section} "
                    f"(defined: {sorted(config[section])})"
                )
    for key in ("tf_template", "qe_template"):
        try:
            config["verifier"][key].format(question="", response="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"config verifier.{key}: only {{question}} and {{response}} may be filled in "
                f"(write literal braces as {{{{ }}}}): {exc!r}"
            ) from exc


check_config()


def runs():
    """Every run of the config: dicts with model, task, method, seed."""
    r = config["runs"]
    return [
        dict(model=m, task=k, method=v, seed=s)
        for m, k, v, s in itertools.product(r["models"], r["tasks"], r["methods"], r["seeds"])
    ]


def run_dir(model, task, method, seed):
    """results/<run>: the folder of one run."""
    return f"results/{model}/{task}/{method}/seed{seed}"


def run_dirs():
    return [run_dir(**run) for run in runs()]


def get_final_outputs():
    return [
        f"{d}/{name}"
        for d in run_dirs()
        for name in ("trajectory.parquet", "trajectory.png", "trajectory.pdf")
    ]


def get_task_files(w):
    """The local dataset files a task reads (svgap.tasks.dataset: train_path/test_path or path), so that
    editing one reruns the data rule and a missing one stops the plan naming it."""
    options = config["tasks"][w.task]["options"]
    return [str(options[k]) for k in ("train_path", "test_path", "path") if options.get(k)]


def adapter_of(w, t):
    """The LoRA adapter of epoch t; none for the base model (t = 0)."""
    return [] if t == 0 else f"{run_dir(w.model, w.task, w.method, w.seed)}/epoch{t}/adapter"


def get_adapter(w):
    """The adapter of checkpoint t; t + 0.5 is the half-epoch adapter the finetune of epoch t + 1 saves."""
    if w.t.isdigit():
        return adapter_of(w, int(w.t))
    return f"{run_dir(w.model, w.task, w.method, w.seed)}/epoch{int(float(w.t)) + 1}/adapter_half"


def get_previous_adapter(w):
    """The adapter the finetune producing epoch t starts from (epoch t-1's)."""
    return adapter_of(w, int(w.t) - 1)


def get_previous_picks(w):
    return f"{run_dir(w.model, w.task, w.method, w.seed)}/epoch{int(w.t) - 1}/picks.parquet"


def get_metrics(w):
    d = run_dir(w.model, w.task, w.method, w.seed)
    return [f"{d}/epoch{t}/metrics.parquet" for t in checkpoints()]


def backend_of(model):
    """The inference backend of a model: its own `backend`, else `inference.backend`."""
    return config["models"][model].get("backend") or config["inference"]["backend"]


def inference_params(w):
    """The inference settings of the run's model: `inference`, its backend overridden by the model's."""
    backend = backend_of(w.model)
    # only the backend's own settings, so that tuning one backend does not rerun the other's jobs
    unused = ("vllm",) if backend == "transformers" else ("max_batch_tokens", "max_batch_rows")
    return {k: v for k, v in config["inference"].items() if k not in unused} | {"backend": backend}


MODEL_ENVS = {"transformers": "../envs/model.yaml", "vllm": "../envs/vllm.yaml"}


def get_model_env(w):
    """The conda environment of generate / verify: the one of the model's backend."""
    return MODEL_ENVS[inference_params(w)["backend"]]


# one environment when every model uses the same backend: a fixed path, resolved once per rule
# (a function is called for every job, which a dry run of the paper grid notices)
_backends = {backend_of(m) for m in config["runs"]["models"]}
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
        "method": w.method,
        "seed": int(w.seed),
        "n_samples": config["loop"]["n_samples"],
        "sigma": config["verifier"]["sigma"][w.method],
        "empty_policy": config["verifier"]["empty_policy"],
        "lr": config["finetune"]["lr"],
        "epochs": T,
    }


# ---- the analysis (rules/analysis.smk) ----
ANALYSIS = config["analysis"]


SIMULATE = config["simulate"] if config["runs"]["simulated"] else {}


def simulated_dirs():
    return [f"results/simulated/{name}" for name in SIMULATE]


def analysed_runs():
    """Every trajectory the analysis covers: (folder, labels) for runs, then simulated trajectories."""
    out = [(run_dir(**r), {**r, "seed": int(r["seed"])}) for r in runs()]
    for name, sim in SIMULATE.items():
        out.append((f"results/simulated/{name}",
                    dict(model="simulated", task=name, method="sim", seed=int(sim.get("seed", 0)))))
    return out


RUN_FIGURES = ("fits", "dgdt", "prediction", "comparison")
ACROSS_RUNS = ("table2", "table4", "parameters", "comparison", "early")


def get_analysis_outputs():
    per_run = [
        f"{d}/analysis/{name}"
        for d, _ in analysed_runs()
        for name in ["cross.parquet"] + [f"{fig}.{ext}" for fig in RUN_FIGURES for ext in ("png", "pdf")]
    ]
    across = [f"results/analysis/{name}.{ext}" for name in ACROSS_RUNS for ext in ("md", "tex")]
    across += ["results/analysis/dgdt.png"]
    return per_run + (across if analysed_runs() else [])


def get_all_of(name):
    """The same per-run analysis file of every analysed trajectory, in analysed_runs() order."""
    return lambda w: [f"{d}/analysis/{name}" for d, _ in analysed_runs()]


def simulation_params(w):
    sim = dict(config["simulate"][w.name])
    dynamics = {k: sim.pop(k) for k in ("U_s0", "U_v0", "alpha", "beta", "k", "b")}
    defaults = dict(epochs=10, step=0.5, noise=0.01, seed=0, discrete=False)  # as in config/schema.yaml
    return dict(name=w.name, dynamics=dynamics, **{**defaults, **sim})
