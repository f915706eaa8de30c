rule base_model:
    """Make the base model loadable (the embedded GGUF is converted to safetensors once; a checkpoint model's
    adapter is merged into its run's base model)."""
    input:
        unpack(get_checkpoint_source),
    output:
        descriptor="results/models/{model}/model.json",
        weights=directory("results/models/{model}/weights"),
    params:
        name=lambda w: w.model,
        spec=lambda w: {k: v for k, v in config["models"][w.model].items() if k != "scale"},  # scale: metadata
    threads: config["inference"]["threads"]
    log:
        "results/logs/models/{model}.log",
    benchmark:
        "results/benchmarks/models/{model}.tsv"
    conda:
        "../envs/model.yaml"
    script:
        "../workflow/scripts/base_model.py"
