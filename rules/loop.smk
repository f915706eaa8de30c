# One epoch of SVG Algorithm 1, per split: generate -> verify -> grade -> select -> metrics.
# The train split's picks feed finetune, whose adapter is the model of the next epoch; the test
# split runs the same stages on held-out prompts (the evaluation of that epoch's model).


rule generate:
    """N samples per prompt at the solver temperature; NLL from the same pass."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}/{split}.parquet",
    output:
        "results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/generations.parquet",
    params:
        task=task_params,
        n_samples=config["loop"]["n_samples"],
        max_new_tokens=config["loop"]["max_new_tokens"],
        temperature=config["loop"]["temperature"],
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/{split}/generate.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/{split}/generate.tsv"
    conda:
        MODEL_ENV
    script:
        STAGE_SCRIPT


rule verify:
    """The same model scores every sample: TF, QE and P(correct)."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}/{split}.parquet",
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/generations.parquet",
    output:
        "results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/verify.parquet",
    params:
        task=task_params,
        verifier={
            k: v
            for k, v in config["verifier"].items()
            if k not in ("sigma", "empty_policy")
        },
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/{split}/verify.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/{split}/verify.tsv"
    conda:
        MODEL_ENV
    script:
        STAGE_SCRIPT


rule grade:
    """Correctness of every sample against the gold answer."""
    input:
        data="results/data/{task}/{split}.parquet",
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/generations.parquet",
    output:
        "results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/grades.parquet",
    params:
        task=task_params,
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/{split}/grade.log",
    conda:
        "../envs/tables.yaml"
    script:
        STAGE_SCRIPT


rule select:
    """The Best-of-N pick of Eq. 4: score >= sigma, then lowest NLL / length."""
    input:
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/generations.parquet",
        verify="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/verify.parquet",
        grades="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/grades.parquet",
    output:
        "results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/picks.parquet",
    params:
        sigma=lambda w: config["verifier"]["sigma"][w.method],
        empty_policy=config["verifier"]["empty_policy"],
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/{split}/select.log",
    conda:
        "../envs/tables.yaml"
    script:
        STAGE_SCRIPT


rule metrics:
    """U_s, U_v, G (total and per token), accuracies and verifier diagnostics of one epoch."""
    input:
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/generations.parquet",
        verify="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/verify.parquet",
        grades="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/grades.parquet",
        picks="results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/picks.parquet",
    output:
        "results/{model}/{task}/{method}/seed{seed}/epoch{t}/{split}/metrics.parquet",
    params:
        sigma=lambda w: config["verifier"]["sigma"][w.method],
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/{split}/metrics.log",
    conda:
        "../envs/tables.yaml"
    script:
        STAGE_SCRIPT


rule finetune:
    """LoRA SFT on the picks of epoch t-1: the adapter of epoch t."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_previous_adapter,
        picks=get_previous_picks,
    output:
        adapter=directory("results/{model}/{task}/{method}/seed{seed}/epoch{t,\d+}/adapter"),
        **({"half": directory("results/{model}/{task}/{method}/seed{seed}/epoch{t}/adapter_half")} if HALF else {}),
    params:
        spec=config["finetune"],
        inference=config["inference"],
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/finetune.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/finetune.tsv"
    conda:
        "../envs/model.yaml"
    script:
        STAGE_SCRIPT
