# Mind the Gap (Song et al., ICLR 2025): the generation-verification gap of each model of gap.models on
# each task of gap.tasks. One sampling (gap_generate) and one verification per response and method
# (gap_verify) per model and task, both model jobs; then every filter, threshold and ensemble offline
# (gap_measure), and per task the paper's tables (gap_tables) and figures (gap_figures). A new filter,
# ensemble or sweep reruns only the table rules. Rule r runs workflow/scripts/r.py, which calls
# svgap.gap.stages.r. docs/mtg.md has the readings of the paper behind each number.


rule gap_generate:
    """MTG §3: N responses per prompt of the study's split from the base model, at MTG's temperature and top-p
    (the NLL of each is still the raw model's)."""
    input:
        model="results/models/{model}/model.json",
        data="results/data/{task}.parquet",
    output:
        "results/gap/{model}/{task}/generations.parquet",
    params:
        task=task_params,
        split=GAP["split"],
        seed=GAP["seed"],
        n_samples=GAP["n_samples"],
        max_new_tokens=GAP["max_new_tokens"],
        temperature=GAP["temperature"],
        top_p=GAP["top_p"],
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/gap/{model}/{task}/logs/gap_generate.log",
    benchmark:
        "results/gap/{model}/{task}/benchmarks/gap_generate.tsv"
    conda:
        get_model_env
    script:
        "../workflow/scripts/gap_generate.py"


rule gap_verify:
    """MTG §3, App. C: the same model verifies every response with each method of gap.verifier.methods (MC,
    CoT-Binary, CoT-Score, the tournament) and, with repeats, k more CoT-Binary verdicts (App. D.4)."""
    input:
        model="results/models/{model}/model.json",
        data="results/data/{task}.parquet",
        generations="results/gap/{model}/{task}/generations.parquet",
    output:
        scores="results/gap/{model}/{task}/scores.parquet",
        matches="results/gap/{model}/{task}/matches.parquet",
        repeats="results/gap/{model}/{task}/repeats.parquet",
    params:
        task=task_params,
        split=GAP["split"],
        seed=GAP["seed"],
        verifier=GAP["verifier"],
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/gap/{model}/{task}/logs/gap_verify.log",
    benchmark:
        "results/gap/{model}/{task}/benchmarks/gap_verify.tsv"
    conda:
        get_model_env
    script:
        "../workflow/scripts/gap_verify.py"


rule gap_measure:
    """Defs. 2.1, 2.2: grades, then the gap and relative gap of every filter and ensemble, the threshold sweep,
    the tournament rounds, the verifier variance and the correlations, from the verification tables."""
    input:
        data="results/data/{task}.parquet",
        generations="results/gap/{model}/{task}/generations.parquet",
        scores="results/gap/{model}/{task}/scores.parquet",
        matches="results/gap/{model}/{task}/matches.parquet",
        repeats="results/gap/{model}/{task}/repeats.parquet",
    output:
        grades="results/gap/{model}/{task}/grades.parquet",
        prompts="results/gap/{model}/{task}/prompts.parquet",
        summary="results/gap/{model}/{task}/summary.parquet",
        sweep="results/gap/{model}/{task}/sweep.parquet",
        rounds="results/gap/{model}/{task}/rounds.parquet",
        variance="results/gap/{model}/{task}/variance.parquet",
        correlation="results/gap/{model}/{task}/correlation.parquet",
    params:
        task=task_params,
        split=GAP["split"],
        methods=GAP_METHODS,
        filters=GAP["filters"],
        ensembles=GAP["ensembles"],
        empty=GAP["empty"],
        sweep_grid=GAP["sweep"],
    log:
        "results/gap/{model}/{task}/logs/gap_measure.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/gap_measure.py"


rule gap_tables:
    """MTG Tables 3, 4 (gap and relative gap per model and filter), 7 (ensembles) and 1, 2, 5, 6 (accuracy,
    gap and relative gap per model) of one task, with every model's correlations (Figs. 18, 19) and the
    tournament's first-position wins (Fig. 16b) as tables."""
    input:
        summaries=lambda w: get_gap_tables(w, "summary"),
        correlations=lambda w: get_gap_tables(w, "correlation"),
        matches=lambda w: get_gap_tables(w, "matches"),
    output:
        out="results/gap/{task}/summary.parquet",
        csv=gap_report("results/gap/{task}/summary.csv", "gap_summary"),
        gap_md="results/gap/{task}/gap.md",
        gap_tex=gap_report("results/gap/{task}/gap.tex", "gap_table3"),
        rel_md="results/gap/{task}/relative_gap.md",
        rel_tex=gap_report("results/gap/{task}/relative_gap.tex", "gap_table4"),
        ens_md="results/gap/{task}/ensembles.md",
        ens_tex=gap_report("results/gap/{task}/ensembles.tex", "gap_table7"),
        by_model_md="results/gap/{task}/by_model.md",
        by_model_tex=gap_report("results/gap/{task}/by_model.tex", "gap_by_model"),
        correlation="results/gap/{task}/correlation.parquet",
        correlation_csv=gap_report("results/gap/{task}/correlation.csv", "gap_correlation_table"),
        **({"position": "results/gap/{task}/position.parquet",
            "position_csv": gap_report("results/gap/{task}/position.csv", "gap_position")}
           if "tournament" in GAP_METHODS else {}),
    params:
        models=GAP["models"],
        task=lambda w: w.task,
        filters=GAP["filters"],
        ensembles=GAP["ensembles"],
        summary=GAP["summary"],
    log:
        "results/gap/{task}/logs/gap_tables.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/gap_tables.py"


rule gap_figures:
    """MTG Figs. 5 and 14 (sweep), 6 and 15 (tournament rounds), 7 and 17 (per-prompt gaps), 7, 18 and 19
    (correlations), 16a (CoT-Score distribution) and 11 (verifier variance) of one task: figures only, so
    a plot setting reruns nothing else."""
    input:
        prompts=lambda w: get_gap_tables(w, "prompts"),
        sweeps=lambda w: get_gap_tables(w, "sweep"),
        rounds=lambda w: get_gap_tables(w, "rounds"),
        scores=lambda w: get_gap_tables(w, "scores"),
        variances=lambda w: get_gap_tables(w, "variance"),
        correlations=lambda w: get_gap_tables(w, "correlation"),
    output:
        **{f"{n}_png": gap_report(f"results/gap/{{task}}/{n}.png", f"gap_{n}") for n in gap_figure_names()},
        **{f"{n}_pdf": f"results/gap/{{task}}/{n}.pdf" for n in gap_figure_names()},
    params:
        models=GAP["models"],
        filters=GAP["filters"],
        plot=config["plot"],
        bin_width=GAP["bin_width"],
    log:
        "results/gap/{task}/logs/gap_figures.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/gap_figures.py"


rule gap_scaling:
    """MTG Figs. 1 and 12 (the numbers): the task's relative gap and gap against log pre-training FLOPs
    from the models' `scale` metadata, each family's fitted slope with its interval, and the models
    without metadata, named."""
    input:
        table="results/gap/{task}/summary.parquet",
    output:
        fits="results/gap/{task}/scaling.parquet",
        csv="results/gap/{task}/scaling.csv",
        points="results/gap/{task}/scaling_points.parquet",
        points_csv="results/gap/{task}/scaling_points.csv",
        md=gap_report("results/gap/{task}/scaling.md", "gap_scaling_table"),
    params:
        scales={m: config["models"][m].get("scale") for m in GAP["models"]},
        filters=GAP["scaling"]["filters"],
        confidence=GAP["scaling"]["confidence"],
    log:
        "results/gap/{task}/logs/gap_scaling.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/gap_scaling.py"


rule gap_scaling_figures:
    """MTG Fig. 1 (the relative gap against log pre-training FLOPs, a line per family) and Fig. 12 (the
    gap): figures only."""
    input:
        fits="results/gap/{task}/scaling.parquet",
        points="results/gap/{task}/scaling_points.parquet",
    output:
        png=gap_report("results/gap/{task}/scaling.png", "gap_scaling"),
        pdf="results/gap/{task}/scaling.pdf",
        gap_png=gap_report("results/gap/{task}/scaling_gap.png", "gap_scaling_gap"),
        gap_pdf="results/gap/{task}/scaling_gap.pdf",
    params:
        plot=config["plot"],
        task=lambda w: w.task,
    log:
        "results/gap/{task}/logs/gap_scaling_figures.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/gap_scaling_figures.py"
