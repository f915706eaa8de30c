rule trajectory:
    """All (split, t) metric rows of a run, with the run's settings: trajectory.parquet."""
    input:
        metrics=get_metrics,
    output:
        "results/{model}/{task}/{method}/seed{seed}/trajectory.parquet",
    params:
        run=run_values,
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/trajectory.log",
    conda:
        "../envs/tables.yaml"
    script:
        STAGE_SCRIPT


rule plot_trajectory:
    """U_s, U_v, G and accuracies against t."""
    input:
        "results/{model}/{task}/{method}/seed{seed}/trajectory.parquet",
    output:
        png=report("results/{model}/{task}/{method}/seed{seed}/trajectory.png", caption="../docs/report/trajectory.rst", category="Trajectories"),
        pdf="results/{model}/{task}/{method}/seed{seed}/trajectory.pdf",
    params:
        plot=config["plot"],
        title=lambda w: f"{w.model} / {w.task} / {w.method} / seed {w.seed}",
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/plot_trajectory.log",
    conda:
        "../envs/tables.yaml"
    script:
        STAGE_SCRIPT
