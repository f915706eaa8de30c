# The dynamics analysis (svgap.dynamics): trajectory tables -> fits, tests, predictions, figures, tables.
# `{run}` is a run folder below results/: <model>/<task>/<method>/seed<seed> or simulated/<name>.
# Rule r runs workflow/scripts/r.py, which calls svgap.dynamics.stages.r.

PAPER_TABLE_CATEGORY = {"table2": "correlation", "table4": "dgdt", "parameters": "fits",
                        "comparison": "extensions", "early": "extensions"}


rule simulate_trajectory:
    """A trajectory with known parameters (config `simulate`), analysed like a run."""
    output:
        "results/simulated/{name}/trajectory.parquet",
    params:
        simulation=simulation_params,
    log:
        "results/simulated/{name}/logs/simulate.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/simulate_trajectory.py"


rule analyse_dynamics:
    """Exponential and joint fits (Prop. 3.1, Cor. 3.2), dG/dt against G, partial F-test, Pearson r."""
    input:
        "results/{run}/trajectory.parquet",
    output:
        fits="results/{run}/analysis/fits.parquet",
        fits_csv=run_report("results/{run}/analysis/fits.csv", "fits_table", "fits"),
        dgdt_points="results/{run}/analysis/dgdt_points.parquet",
        dgdt="results/{run}/analysis/dgdt.parquet",
        dgdt_csv=run_report("results/{run}/analysis/dgdt.csv", "dgdt_table", "dgdt"),
        correlation="results/{run}/analysis/correlation.parquet",
        correlation_csv=run_report("results/{run}/analysis/correlation.csv", "correlation_table", "correlation"),
    params:
        unit=ANALYSIS["unit"],
        fit=ANALYSIS["fit"],
        dgdt=ANALYSIS["dgdt"],
        epsilon=ANALYSIS["convergence"]["epsilon"],
        settings=run_settings,  # for the report's captions
    log:
        "results/{run}/logs/analyse_dynamics.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/analyse_dynamics.py"


rule predict_early:
    """U_s and its limit predicted from the first k checkpoints, scored against the whole run."""
    input:
        "results/{run}/trajectory.parquet",
    output:
        curves="results/{run}/analysis/prediction.parquet",
        scores="results/{run}/analysis/prediction_scores.parquet",
        scores_csv=run_report("results/{run}/analysis/prediction_scores.csv", "prediction_table", "extensions"),
    params:
        unit=ANALYSIS["unit"],
        fit=ANALYSIS["fit"],
        split=ANALYSIS["prediction"]["split"],
        first=ANALYSIS["prediction"]["first"],
        epsilon=ANALYSIS["convergence"]["epsilon"],
        settings=run_settings,  # for the report's captions
    log:
        "results/{run}/logs/predict_early.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/predict_early.py"


rule compare_laws:
    """Exponential law against a power law, a line and persistence: AIC/AICc/BIC and held-out RMSE."""
    input:
        "results/{run}/trajectory.parquet",
    output:
        table="results/{run}/analysis/comparison.parquet",
        csv=run_report("results/{run}/analysis/comparison.csv", "comparison_table", "extensions"),
    params:
        unit=ANALYSIS["unit"],
        fit=ANALYSIS["fit"],
        holdout=ANALYSIS["comparison"]["holdout"],
        settings=run_settings,  # for the report's captions
    log:
        "results/{run}/logs/compare_laws.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/compare_laws.py"


rule cross_improvement:
    """Prop. 5.1 with the run's fitted dynamics: Early / Uniform / Late, exact and approximated."""
    input:
        "results/{run}/analysis/fits.parquet",
    output:
        table="results/{run}/analysis/cross.parquet",
        csv=run_report("results/{run}/analysis/cross.csv", "cross_table", "cross"),
    params:
        **ANALYSIS["cross"],
        settings=run_settings,  # for the report's captions
    log:
        "results/{run}/logs/cross_improvement.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/cross_improvement.py"


rule plot_analysis:
    """The run's figures: Fig. 4 / 14-17 (fits with R^2), Fig. 2 / 8 (dG/dt against G with the linear
    fit), the fan chart of the early prediction, the model comparison (AICc, held-out RMSE)."""
    input:
        trajectory="results/{run}/trajectory.parquet",
        fits="results/{run}/analysis/fits.parquet",
        points="results/{run}/analysis/dgdt_points.parquet",
        dgdt="results/{run}/analysis/dgdt.parquet",
        curves="results/{run}/analysis/prediction.parquet",
        scores="results/{run}/analysis/prediction_scores.parquet",
        comparison="results/{run}/analysis/comparison.parquet",
    output:
        fits_png=run_report("results/{run}/analysis/fits.png", "fits", "fits"),
        fits_pdf="results/{run}/analysis/fits.pdf",
        dgdt_png=run_report("results/{run}/analysis/dgdt.png", "dgdt", "dgdt"),
        dgdt_pdf="results/{run}/analysis/dgdt.pdf",
        prediction_png=run_report("results/{run}/analysis/prediction.png", "prediction", "extensions"),
        prediction_pdf="results/{run}/analysis/prediction.pdf",
        comparison_png=run_report("results/{run}/analysis/comparison.png", "comparison", "extensions"),
        comparison_pdf="results/{run}/analysis/comparison.pdf",
    params:
        plot=config["plot"],
        unit=ANALYSIS["unit"],
        title=lambda w: w.run,
        settings=run_settings,  # for the report's captions
    log:
        "results/{run}/logs/plot_analysis.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_analysis.py"


rule paper_tables:
    """Across runs: Table 2, Table 4, the parameter table and the others (Markdown, LaTeX, HTML), combined tables."""
    input:
        fits=get_all_of("fits.parquet"),
        dgdt=get_all_of("dgdt.parquet"),
        points=get_all_of("dgdt_points.parquet"),
        correlation=get_all_of("correlation.parquet"),
        comparison=get_all_of("comparison.parquet"),
        scores=get_all_of("prediction_scores.parquet"),
    output:
        **{f"{name}_{ext}": f"results/analysis/{name}.{ext}" for name in ACROSS_RUNS for ext in ("md", "tex")},
        **{f"{name}_html": report(f"results/analysis/{name}.html", caption=f"../docs/report/across_{name}.rst",
                                  category=CATEGORIES[PAPER_TABLE_CATEGORY[name]], subcategory="across runs")
          for name in ACROSS_RUNS},
        **{name: f"results/analysis/{name}.parquet" for name in ("fits", "dgdt", "correlation", "comparison", "prediction_scores")},
        **{f"{name}_csv": f"results/analysis/{name}.csv" for name in ("fits", "dgdt", "correlation", "comparison", "prediction_scores")},
        points="results/analysis/dgdt_points.parquet",
    params:
        runs=[labels for _, labels in analysed_runs()],
        split=ANALYSIS["tables"]["split"],
        confidence=ANALYSIS["fit"]["confidence"],
    log:
        "results/analysis/logs/paper_tables.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/paper_tables.py"


rule plot_dgdt_runs:
    """Fig. 2 / 8 across runs: dG/dt against G, one panel per model."""
    input:
        "results/analysis/dgdt_points.parquet",
    output:
        png=report("results/analysis/dgdt.png", caption="../docs/report/dgdt_runs.rst", category=CATEGORIES["dgdt"],
                   subcategory="across runs"),
        pdf="results/analysis/dgdt.pdf",
    params:
        split=ANALYSIS["tables"]["split"],
        plot=config["plot"],
    log:
        "results/analysis/logs/plot_dgdt_runs.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/plot_dgdt_runs.py"
