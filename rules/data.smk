rule data:
    """Prompts and gold answers of a task, train and test splits (generated, or from dataset files)."""
    input:
        get_task_files,
    output:
        "results/data/{task}.parquet",
    params:
        kind=lambda w: config["tasks"][w.task]["kind"],
        options=lambda w: config["tasks"][w.task]["options"],
        n_train=lambda w: config["tasks"][w.task]["n_train"],
        n_test=lambda w: config["tasks"][w.task]["n_test"],
        seed=lambda w: config["tasks"][w.task]["seed"],
    log:
        "results/logs/data/{task}.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/data.py"
