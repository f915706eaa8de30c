# What the papers' tables and figures map to: SVG Table 3 (this config's hyperparameters) and
# results/index.md (every table and figure id of both papers, svgap.paper.ITEMS, with the files that
# reproduce it). Rule r runs workflow/scripts/r.py, which calls svgap.stages.r.


rule hyperparameters:
    """SVG Table 3: the settings of this config's self-improvement runs, beside the paper's."""
    output:
        html=report("results/analysis/table3.html", caption="../docs/report/table3.rst",
                    category=CATEGORIES["settings"]),
        md="results/analysis/table3.md",
    params:
        loop=config["loop"],
        verifier={k: config["verifier"][k] for k in ("temperature", "max_new_tokens", "sigma", "empty_policy")},
        finetune=config["finetune"],
    log:
        "results/analysis/logs/hyperparameters.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/hyperparameters.py"


rule index:
    """results/index.md: every table and figure of both papers, with the files of this config that
    reproduce it, or "not produced by this config"."""
    input:
        get_index_inputs(),
    output:
        report("results/index.md", caption="../docs/report/index.rst", category=CATEGORIES["index"]),
    log:
        "results/logs/index.log",
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow/scripts/index.py"
