# svgap: the solver-verifier gap of LLM self-improvement (Sun et al., ICLR 2026; Song et al., ICLR 2025).
#   snakemake --cores 2                         the embedded default (config/config.yaml)
#   snakemake --cores 2 --configfile my.yaml    another model, task, N, sigma, ...
#   snakemake --report report.html              every figure and table, with captions
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "docs/report/workflow.rst"


# the verification methods a run selects by (svgap.loop.bon.SCORE_COLUMN; config runs.methods)
METHOD = "tf|qe|p_correct|mc|cot_binary|cot_score|tournament"


wildcard_constraints:
    model="[^/]+",
    task="[^/]+",
    method=METHOD,
    # a run's folder below its task: the verification method, and for a cross-improvement run its schedule
    arm=rf"({METHOD})(/[a-z][a-z0-9_]*)?",
    seed=r"\d+",
    split="train|test",
    t=r"\d+(\.5)?",
    run=rf"[^/]+/[^/]+/({METHOD})(/[a-z][a-z0-9_]*)?/seed\d+|simulated/[^/]+",
    name="[^/]+",
    solver="[^/]+",
    verifier="[^/]+",
    group="[^/]+",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/model.smk"
include: "rules/loop.smk"
include: "rules/cross.smk"
include: "rules/gap.smk"
include: "rules/trajectory.smk"
include: "rules/evaluation.smk"
include: "rules/analysis.smk"
include: "rules/index.smk"


rule all:
    input:
        get_index_inputs(),
        "results/index.md",
    default_target: True


onsuccess:
    print("svgap: finished. Every table and figure of the papers, and the file that reproduces it: "
          "results/index.md; the report: snakemake --report report.html")
    for path, _ in analysed_runs():
        print(f"  {path}")
