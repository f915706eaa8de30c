# Cross-improvement runs (SVG §5.2, Table 1): external data given Early, Uniform or Late, in the loop.
# A run of schedule s lives in results/<model>/<task>/<method>/<s>/seed<seed>; its checkpoints before
# external data enter are its baseline's (the ordinary run of the same model, task, method and seed),
# read from there through the input functions of rules/common.smk (home, picks_home). Rule r runs
# workflow/scripts/r.py, which calls svgap.stages.r (or svgap.dynamics.stages.r for the tables).


rule external_data:
    """One external response per train prompt from the task's source (reference, file or a teacher
    model), graded by the task: the external data and their own accuracy."""
    input:
        data="results/data/{task}.parquet",
        file=get_external_file,
        model=get_teacher,
    output:
        "results/external/{task}.parquet",
    params:
        task=task_params,
        name=lambda w: w.task,
        source=lambda w: external_source(w.task),
        inference=teacher_inference,
        seed=lambda w: config["tasks"][w.task]["seed"],
    threads: config["inference"]["threads"]
    log:
        "results/logs/external/{task}.log",
    benchmark:
        "results/benchmarks/external/{task}.tsv"
    conda:
        get_external_env
    script:
        "../workflow/scripts/external_data.py"


rule chosen_prompts:
    """Which train prompts take external data, and from which epoch: one seeded draw per task and seed."""
    input:
        external="results/external/{task}.parquet",
    output:
        "results/{model}/{task}/{arm}/seed{seed}/chosen.parquet",
    wildcard_constraints:
        arm=rf"({METHOD})/[a-z][a-z0-9_]*",
    params:
        n=lambda w: list(external_counts(w.task, schedule_of(w.arm))),
        task=lambda w: w.task,
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/chosen_prompts.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/chosen_prompts.py"


rule score_external:
    """The NLL of the external responses in use at checkpoint t under that checkpoint's model (the
    numbers of the external picks: their U_v^c and their finetune target)."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}.parquet",
        external="results/external/{task}.parquet",
        chosen="results/{model}/{task}/{arm}/seed{seed}/chosen.parquet",
    output:
        "results/{model}/{task}/{arm}/seed{seed}/epoch{t}/external.parquet",
    wildcard_constraints:
        arm=rf"({METHOD})/[a-z][a-z0-9_]*",
    params:
        task=task_params,
        inference=TEACHER_FORCING,
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/epoch{t}/score_external.log",
    benchmark:
        "results/{model}/{task}/{arm}/seed{seed}/benchmarks/epoch{t}/score_external.tsv"
    conda:
        "../envs/model.yaml"
    script:
        "../workflow/scripts/score_external.py"


rule cross_table1:
    """SVG Table 1: final solver accuracy (and U_s) per schedule, mean and std over seeds, Max-Min, Avg,
    Avg vs Initial and Baseline, Early's verifier at t = 0; and the figure of acc_s and U_s against t."""
    input:
        trajectories=[f"{d}/trajectory.parquet" for d, _ in cross_labels()],
        external=expand("results/external/{task}.parquet", task=config["runs"]["tasks"]),
    output:
        table="results/cross/table1.parquet",
        csv=report("results/cross/table1.csv", caption="../docs/report/cross_table1.rst",
                   category=CATEGORIES["cross"], subcategory="Table 1"),
        md="results/cross/table1.md",
        tex="results/cross/table1.tex",
        png=report("results/cross/table1.png", caption="../docs/report/cross_figure.rst",
                   category=CATEGORIES["cross"], subcategory="Table 1"),
        pdf="results/cross/table1.pdf",
    params:
        runs=[labels for _, labels in cross_labels()],
        split=ANALYSIS["tables"]["split"],
        plot=config["plot"],
    log:
        "results/cross/logs/cross_table1.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/cross_table1.py"


rule cross_gamma:
    """gamma of Eq. 12 from the runs under both readings (the epoch's new share, or every chosen prompt so
    far), and Prop. 5.1 fed with it and each baseline's fitted dynamics against the measured final U_s."""
    input:
        trajectories=[f"{d}/trajectory.parquet" for d, _ in cross_labels()],
        fits=[f"{run_dir(**r)}/analysis/fits.parquet" for r in runs()],
    output:
        gamma="results/cross/gamma.parquet",
        gamma_csv=report("results/cross/gamma.csv", caption="../docs/report/cross_gamma.rst",
                         category=CATEGORIES["cross"], subcategory="gamma and Prop. 5.1"),
        gamma_md="results/cross/gamma.md",
        points="results/cross/gamma_points.parquet",
        theory="results/cross/theory.parquet",
        theory_csv=report("results/cross/theory.csv", caption="../docs/report/cross_theory.rst",
                          category=CATEGORIES["cross"], subcategory="gamma and Prop. 5.1"),
        theory_md="results/cross/theory.md",
    params:
        runs=[labels for _, labels in cross_labels()],
        baselines=[{**r, "seed": int(r["seed"])} for r in runs()],
        counts=counts_by_task(),
        unit=ANALYSIS["unit"],
        split=ANALYSIS["tables"]["split"],
        confidence=ANALYSIS["fit"]["confidence"],
    log:
        "results/cross/logs/cross_gamma.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/cross_gamma.py"
