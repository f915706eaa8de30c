# Evaluations over the samples and trajectories the runs write: pass@k per run (SVG Fig. 23; MTG
# Figs. 4 right, 13 bottom), Mind the Gap's per-round view of iterative self-improvement (MTG §5,
# Figs. 4 left, 13 top) and the training stages side by side (SVG §4.4, Figs. 5, 9): table work only.
# Two studies add model jobs: self-evaluation over N (SVG Figs. 18-20; one sampling of the largest N)
# and cross-evaluation (SVG Figs. 21-22, MTG Fig. 3; one verify job per solver x verifier pair).
# Rule r runs workflow/scripts/r.py, which calls svgap.stages.r.


rule pass_at_k:
    """pass@k of the run's checkpoints from the N samples each drew (unbiased estimator), both splits."""
    input:
        grades=get_pass_at_k_grades,
    output:
        table="results/{model}/{task}/{arm}/seed{seed}/pass_at_k.parquet",
        csv=report("results/{model}/{task}/{arm}/seed{seed}/pass_at_k.csv", caption="../docs/report/pass_at_k.rst",
                   category=CATEGORIES["evaluation"], subcategory="{model}/{task}/{arm}/seed{seed}"),
    params:
        checkpoints=PASS_AT_K_T,
        k=PASS_AT_K_K,
        settings=lambda w: loop_settings(w.model, w.task, w.arm, w.seed),  # for the report's captions
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/pass_at_k.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/pass_at_k.py"


rule plot_pass_at_k:
    """pass@k against k per checkpoint (SVG Fig. 23) and against t per k (MTG Fig. 4 right)."""
    input:
        "results/{model}/{task}/{arm}/seed{seed}/pass_at_k.parquet",
    output:
        png=report("results/{model}/{task}/{arm}/seed{seed}/pass_at_k.png", caption="../docs/report/pass_at_k.rst",
                   category=CATEGORIES["evaluation"], subcategory="{model}/{task}/{arm}/seed{seed}"),
        pdf="results/{model}/{task}/{arm}/seed{seed}/pass_at_k.pdf",
    params:
        checkpoints=PASS_AT_K_T,  # for the report's caption
        k=PASS_AT_K_K,
        plot=config["plot"],
        title=lambda w: f"pass@k: {w.model} / {w.task} / {w.arm} / seed {w.seed}",
        settings=lambda w: loop_settings(w.model, w.task, w.arm, w.seed),
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/plot_pass_at_k.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_pass_at_k.py"


rule iterative:
    """Per round: each run's generation accuracy and the gap of its own filter (MTG Fig. 4 left), over
    every model and method of the task."""
    input:
        trajectories=get_task_trajectories,
    output:
        table="results/iterative/{task}/rounds.parquet",
        csv="results/iterative/{task}/rounds.csv",
        md=report("results/iterative/{task}/rounds.md", caption="../docs/report/iterative.rst",
                  category=CATEGORIES["evaluation"], subcategory="{task}"),
    log:
        "results/iterative/{task}/logs/iterative.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/iterative.py"


rule plot_iterative:
    """MTG Fig. 4 (left): accuracy and gap against the round, a line per model and method."""
    input:
        "results/iterative/{task}/rounds.parquet",
    output:
        png=report("results/iterative/{task}/rounds.png", caption="../docs/report/iterative.rst",
                   category=CATEGORIES["evaluation"], subcategory="{task}"),
        pdf="results/iterative/{task}/rounds.pdf",
    params:
        plot=config["plot"],
        title=lambda w: f"iterative self-improvement: {w.task}",
    log:
        "results/iterative/{task}/logs/plot_iterative.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_iterative.py"


rule n_sweep_sample:
    """One sampling of max(N) responses per prompt by the base model, and its verdicts on them (the N sweep's
    only model job; its smaller N are nested subsets of these)."""
    input:
        model="results/models/{model}/model.json",
        data="results/data/{task}.parquet",
    output:
        generations="results/n_sweep/{model}/{task}/seed{seed}/generations.parquet",
        verify="results/n_sweep/{model}/{task}/seed{seed}/verify.parquet",
    params:
        task=task_params,
        n_samples=max(N_SWEEP["n"]),
        max_new_tokens=config["loop"]["max_new_tokens"],
        temperature=config["loop"]["temperature"],
        top_p=config["loop"]["top_p"],
        verifier=verifier_settings(config, N_SWEEP["methods"]),
        mtg_methods=mtg_of(N_SWEEP["methods"]),
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/n_sweep/{model}/{task}/seed{seed}/logs/n_sweep_sample.log",
    benchmark:
        "results/n_sweep/{model}/{task}/seed{seed}/benchmarks/n_sweep_sample.tsv"
    conda:
        MODEL_ENV
    script:
        "../workflow/scripts/n_sweep_sample.py"


rule n_sweep:
    """Solver and verifier accuracy and uncertainty at every N of the sweep, per method and split (SVG Figs.
    18-20)."""
    input:
        data="results/data/{task}.parquet",
        generations="results/n_sweep/{model}/{task}/seed{seed}/generations.parquet",
        verify="results/n_sweep/{model}/{task}/seed{seed}/verify.parquet",
    output:
        table="results/n_sweep/{model}/{task}/seed{seed}/n_sweep.parquet",
        csv=report("results/n_sweep/{model}/{task}/seed{seed}/n_sweep.csv", caption="../docs/report/n_sweep.rst",
                   category=CATEGORIES["evaluation"], subcategory="{model}/{task}"),
        md="results/n_sweep/{model}/{task}/seed{seed}/n_sweep.md",
    params:
        task=task_params,
        methods=N_SWEEP["methods"],
        n=N_SWEEP["n"],
        sigma={m: config["verifier"]["sigma"][m] for m in N_SWEEP["methods"]},
        quantile={m: config["verifier"]["quantile"][m] for m in N_SWEEP["methods"]},
        empty_policy=config["verifier"]["empty_policy"],
    log:
        "results/n_sweep/{model}/{task}/seed{seed}/logs/n_sweep.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/n_sweep.py"


rule plot_n_sweep:
    """SVG Figs. 18-20: accuracy and uncertainty of the solver and the verifier against N."""
    input:
        "results/n_sweep/{model}/{task}/seed{seed}/n_sweep.parquet",
    output:
        png=report("results/n_sweep/{model}/{task}/seed{seed}/n_sweep.png", caption="../docs/report/n_sweep.rst",
                   category=CATEGORIES["evaluation"], subcategory="{model}/{task}"),
        pdf="results/n_sweep/{model}/{task}/seed{seed}/n_sweep.pdf",
    params:
        plot=config["plot"],
        title=lambda w: f"self-evaluation over N: {w.model} / {w.task} / seed {w.seed}",
    log:
        "results/n_sweep/{model}/{task}/seed{seed}/logs/plot_n_sweep.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_n_sweep.py"


rule cross_eval_sample:
    """N responses per prompt of a cross-evaluation solver that names no run (a base model)."""
    input:
        model=get_cross_solver_model,
        data="results/data/{task}.parquet",
    output:
        generations="results/cross_eval/{task}/{solver}/generations.parquet",
    params:
        task=task_params,
        n_samples=CROSS_EVAL["n_samples"],
        seed=CROSS_EVAL["seed"],
        max_new_tokens=config["loop"]["max_new_tokens"],
        temperature=config["loop"]["temperature"],
        top_p=config["loop"]["top_p"],
        inference=lambda w: inference_of(cross_entry(w.solver)["model"]),
    threads: config["inference"]["threads"]
    log:
        "results/cross_eval/{task}/{solver}/logs/cross_eval_sample.log",
    benchmark:
        "results/cross_eval/{task}/{solver}/benchmarks/cross_eval_sample.tsv"
    conda:
        MODEL_ENV
    script:
        "../workflow/scripts/cross_eval_sample.py"


rule cross_eval_verify:
    """Verifier checkpoint B's verdicts on solver checkpoint A's responses (seeded by A's seed and t)."""
    input:
        model=get_cross_verifier_model,
        adapter=get_cross_verifier_adapter,
        data="results/data/{task}.parquet",
        generations=get_cross_generations,
    output:
        verify="results/cross_eval/{task}/{solver}/by_{verifier}/verify.parquet",
    params:
        task=task_params,
        verifier=verifier_settings(config, CROSS_EVAL["methods"]),
        mtg_methods=mtg_of(CROSS_EVAL["methods"]),
        inference=lambda w: inference_of(cross_entry(w.verifier)["model"]),
        seed=lambda w: cross_samples_of(w.solver)[0],
        t=lambda w: cross_samples_of(w.solver)[1],
    threads: config["inference"]["threads"]
    log:
        "results/cross_eval/{task}/{solver}/logs/cross_eval_verify_by_{verifier}.log",
    benchmark:
        "results/cross_eval/{task}/{solver}/benchmarks/cross_eval_verify_by_{verifier}.tsv"
    conda:
        MODEL_ENV
    script:
        "../workflow/scripts/cross_eval_verify.py"


rule cross_eval:
    """The solver x verifier matrices of a task: verifier accuracy, its difference from the solver's, the
    uncertainties and MTG's gap (SVG Figs. 21-22; MTG Fig. 3)."""
    input:
        unpack(get_cross_matrix_inputs),
        data="results/data/{task}.parquet",
    output:
        table="results/cross_eval/{task}/matrix.parquet",
        csv=report("results/cross_eval/{task}/matrix.csv", caption="../docs/report/cross_eval.rst",
                   category=CATEGORIES["evaluation"], subcategory="{task}"),
        md=report("results/cross_eval/{task}/matrix.md", caption="../docs/report/cross_eval.rst",
                  category=CATEGORIES["evaluation"], subcategory="{task}"),
    params:
        task=task_params,
        names=cross_names(),
        methods=CROSS_EVAL["methods"],
        sigma={m: config["verifier"]["sigma"][m] for m in CROSS_EVAL["methods"]},
        quantile={m: config["verifier"]["quantile"][m] for m in CROSS_EVAL["methods"]},
        empty_policy=config["verifier"]["empty_policy"],
    log:
        "results/cross_eval/{task}/logs/cross_eval.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/cross_eval.py"


rule plot_cross_eval:
    """Heat maps of the cross-evaluation matrices (SVG Figs. 21-22; MTG Fig. 3)."""
    input:
        "results/cross_eval/{task}/matrix.parquet",
    output:
        png=report("results/cross_eval/{task}/matrix.png", caption="../docs/report/cross_eval.rst",
                   category=CATEGORIES["evaluation"], subcategory="{task}"),
        pdf="results/cross_eval/{task}/matrix.pdf",
    params:
        names=cross_names(),
        plot=config["plot"],
        title=lambda w: f"cross-evaluation: {w.task} (rows: solver, columns: verifier)",
    log:
        "results/cross_eval/{task}/logs/plot_cross_eval.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_cross_eval.py"


rule training_stages:
    """Each stage's joint fit side by side: rate, amplitudes, limits, identifiable coefficients and the
    paper's alpha under a stated normalisation (SVG §4.4)."""
    input:
        fits=get_stage_fits,
    output:
        table="results/stages/{group}/stages.parquet",
        csv=report("results/stages/{group}/stages.csv", caption="../docs/report/training_stages.rst",
                   category=CATEGORIES["evaluation"], subcategory="stages {group}"),
        md=report("results/stages/{group}/stages.md", caption="../docs/report/training_stages.rst",
                  category=CATEGORIES["evaluation"], subcategory="stages {group}"),
    params:
        labels=lambda w: [s["label"] for s in STAGES[w.group]["stages"]],
    log:
        "results/stages/{group}/logs/training_stages.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/training_stages.py"


rule plot_training_stages:
    """SVG Figs. 5 (train) and 9 (test): each stage's trajectory and fitted curves."""
    input:
        table="results/stages/{group}/stages.parquet",
        trajectories=get_stage_trajectories,
    output:
        png=report("results/stages/{group}/stages.png", caption="../docs/report/training_stages.rst",
                   category=CATEGORIES["evaluation"], subcategory="stages {group}"),
        pdf="results/stages/{group}/stages.pdf",
    params:
        labels=lambda w: [s["label"] for s in STAGES[w.group]["stages"]],
        unit=ANALYSIS["unit"],
        plot=config["plot"],
        title=lambda w: f"training stages {w.group}: {STAGES[w.group]['task']} / {STAGES[w.group]['method']}",
    log:
        "results/stages/{group}/logs/plot_training_stages.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_training_stages.py"
