# One checkpoint of SVG Algorithm 1: generate -> verify -> select (grade, Best-of-N pick, metrics).
# Each job covers both splits of its checkpoint: the train split's picks feed finetune, whose adapter
# is the model of the next epoch; the test split runs the same steps on held-out prompts (the
# evaluation of that checkpoint's model). One job per checkpoint and stage, not per split: one model
# load (one vLLM engine start on a GPU) serves both splits. Each stage writes one table per checkpoint
# with both splits in its `split` column: half the files per job keeps the paper's grid at a plan
# Snakemake makes in seconds (docs/design.md).


rule generate:
    """N samples per prompt at the solver temperature, both splits; NLL from the same pass."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}.parquet",
    output:
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/generations.parquet",
    params:
        task=task_params,
        n_samples=config["loop"]["n_samples"],
        max_new_tokens=config["loop"]["max_new_tokens"],
        temperature=config["loop"]["temperature"],
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/generate.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/generate.tsv"
    conda:
        MODEL_ENV
    script:
        STAGE_SCRIPT


rule verify:
    """The same model scores every sample of both splits: TF, QE and P(correct)."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}.parquet",
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/generations.parquet",
    output:
        verify="results/{model}/{task}/{method}/seed{seed}/epoch{t}/verify.parquet",
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
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/verify.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/verify.tsv"
    conda:
        MODEL_ENV
    script:
        STAGE_SCRIPT


rule select:
    """Per split: correctness against the gold answer, the Best-of-N pick of Eq. 4 (score >= sigma,
    then lowest NLL / length), and U_s, U_v, G, accuracies and verifier diagnostics of the checkpoint."""
    input:
        data="results/data/{task}.parquet",
        generations="results/{model}/{task}/{method}/seed{seed}/epoch{t}/generations.parquet",
        verify="results/{model}/{task}/{method}/seed{seed}/epoch{t}/verify.parquet",
    output:
        grades="results/{model}/{task}/{method}/seed{seed}/epoch{t}/grades.parquet",
        picks="results/{model}/{task}/{method}/seed{seed}/epoch{t}/picks.parquet",
        metrics="results/{model}/{task}/{method}/seed{seed}/epoch{t}/metrics.parquet",
    params:
        task=task_params,
        sigma=lambda w: config["verifier"]["sigma"][w.method],
        empty_policy=config["verifier"]["empty_policy"],
    log:
        "results/{model}/{task}/{method}/seed{seed}/logs/epoch{t}/select.log",
    benchmark:
        "results/{model}/{task}/{method}/seed{seed}/benchmarks/epoch{t}/select.tsv"
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
        adapter=directory(r"results/{model}/{task}/{method}/seed{seed}/epoch{t,\d+}/adapter"),
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
