# One checkpoint of SVG Algorithm 1: generate -> verify -> select (grade, Best-of-N pick, metrics).
# Two jobs per checkpoint: generate_and_verify (the model: sampling, then the same model's verdicts)
# and select (table work, which a new sigma reruns without the model). Each covers both splits: the
# train split's picks feed finetune, whose adapter is the model of the next epoch; the test split
# runs the same steps on held-out prompts (the evaluation of that checkpoint's model). One model load
# (one vLLM engine start and one GPU job in the queue on a cluster) per checkpoint, and one table per
# step holding both splits in its `split` column, keep the paper's grid at a plan Snakemake makes in
# seconds (docs/design.md, "Jobs per checkpoint"). Rule r runs workflow/scripts/r.py, which calls
# svgap.stages.r.


rule generate_and_verify:
    """N samples per prompt at the solver temperature (NLL from the same pass), then the same model
    scores every sample: those of verifier.methods (`auto`: the run's own, a TF run's TF and P(correct)), and a
    run selecting by an MTG method (mc, cot_binary, cot_score, tournament) that method. Both splits, one model
    load for both steps."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_adapter,
        data="results/data/{task}.parquet",
    output:
        generations="results/{model}/{task}/{arm}/seed{seed}/epoch{t}/generations.parquet",
        verify="results/{model}/{task}/{arm}/seed{seed}/epoch{t}/verify.parquet",
    params:
        task=task_params,
        n_samples=config["loop"]["n_samples"],
        max_new_tokens=config["loop"]["max_new_tokens"],
        temperature=config["loop"]["temperature"],
        top_p=config["loop"]["top_p"],
        verifier=get_verifier,
        mtg_methods=mtg_methods,
        inference=inference_params,
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/epoch{t}/generate_and_verify.log",
    benchmark:
        "results/{model}/{task}/{arm}/seed{seed}/benchmarks/epoch{t}/generate_and_verify.tsv"
    conda:
        MODEL_ENV
    script:
        "../workflow/scripts/generate_and_verify.py"


rule select:
    """Per split: correctness against the gold answer, the selection (the Best-of-N pick of Eq. 4: score
    >= sigma, then lowest NLL / length; or MTG's rejection sampling: every candidate), and U_s, U_v, G, accuracies and verifier diagnostics of the checkpoint.
    In a cross-improvement run the chosen train prompts take their external response instead; the
    checkpoints before its external data enter reuse the baseline's generations (rules/cross.smk)."""
    input:
        data="results/data/{task}.parquet",
        generations=get_generations,
        verify=get_verify,
        external=get_external_scores,
        chosen=get_chosen,
    output:
        grades="results/{model}/{task}/{arm}/seed{seed}/epoch{t}/grades.parquet",
        picks="results/{model}/{task}/{arm}/seed{seed}/epoch{t}/picks.parquet",
        metrics="results/{model}/{task}/{arm}/seed{seed}/epoch{t}/metrics.parquet",
    params:
        task=task_params,
        method=lambda w: method_of(w.arm),
        sigma=lambda w: config["verifier"]["sigma"][method_of(w.arm)],
        quantile=lambda w: config["verifier"]["quantile"][method_of(w.arm)],
        selection=config["verifier"]["selection"],
        empty_policy=config["verifier"]["empty_policy"],
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/epoch{t}/select.log",
    benchmark:
        "results/{model}/{task}/{arm}/seed{seed}/benchmarks/epoch{t}/select.tsv"
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/select.py"


rule finetune:
    """LoRA SFT on the picks of epoch t-1: the adapter of epoch t."""
    input:
        model="results/models/{model}/model.json",
        adapter=get_previous_adapter,
        picks=get_previous_picks,
    output:
        adapter=directory(r"results/{model}/{task}/{arm}/seed{seed}/epoch{t,\d+}/adapter"),
        **({"half": directory("results/{model}/{task}/{arm}/seed{seed}/epoch{t}/adapter_half")} if HALF else {}),
    params:
        spec=config["finetune"],
        device=config["inference"]["device"],
        dtype=config["inference"]["dtype"],
    threads: config["inference"]["threads"]
    log:
        "results/{model}/{task}/{arm}/seed{seed}/logs/epoch{t}/finetune.log",
    benchmark:
        "results/{model}/{task}/{arm}/seed{seed}/benchmarks/epoch{t}/finetune.tsv"
    conda:
        "../envs/model.yaml"
    script:
        "../workflow/scripts/finetune.py"
