# Evaluations over the samples and trajectories the runs write: pass@k per run (SVG Fig. 23; MTG
# Figs. 4 right, 13 bottom) and Mind the Gap's per-round view of iterative self-improvement (MTG §5,
# Figs. 4 left, 13 top). Table work only: no model is loaded. Rule r runs workflow/scripts/r.py, which
# calls svgap.stages.r.


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
