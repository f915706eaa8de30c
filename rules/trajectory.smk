# A run's trajectory: every checkpoint's metrics in one table, and its figure. Rule r runs
# workflow/scripts/r.py, which calls svgap.stages.r.


rule trajectory:
    """All (split, t) metric rows of a run, with the run's settings: trajectory.parquet and .csv."""
    input:
        metrics=get_metrics,
    output:
        table="results/{model}/{task}/{arm}/seed{seed}/trajectory.parquet",
        csv=report("results/{model}/{task}/{arm}/seed{seed}/trajectory.csv",
                   caption="../docs/report/trajectory_table.rst", category=CATEGORIES["trajectories"],
                   subcategory="{model}/{task}/{arm}/seed{seed}"),
    params:
        run=run_values,
        settings=lambda w: loop_settings(w.model, w.task, w.arm, w.seed),  # for the report's captions
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/trajectory.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/trajectory.py"


rule plot_trajectory:
    """U_s, U_v, G and accuracies against t (SVG Figs. 3, 10-13)."""
    input:
        "results/{model}/{task}/{arm}/seed{seed}/trajectory.parquet",
    output:
        png=report("results/{model}/{task}/{arm}/seed{seed}/trajectory.png",
                   caption="../docs/report/trajectory.rst", category=CATEGORIES["trajectories"],
                   subcategory="{model}/{task}/{arm}/seed{seed}"),
        pdf="results/{model}/{task}/{arm}/seed{seed}/trajectory.pdf",
    params:
        plot=config["plot"],
        title=lambda w: f"{w.model} / {w.task} / {w.arm} / seed {w.seed}",
        settings=lambda w: loop_settings(w.model, w.task, w.arm, w.seed),  # for the report's captions
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/plot_trajectory.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_trajectory.py"
