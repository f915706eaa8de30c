# svgap: the solver-verifier gap of LLM self-improvement (Sun et al., ICLR 2026; Song et al., ICLR 2025).
#   snakemake --cores 2                         the embedded default (config/config.yaml)
#   snakemake --cores 2 --configfile my.yaml    another model, task, N, sigma, ...
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


wildcard_constraints:
    model="[^/]+",
    task="[^/]+",
    method="tf|qe|mc",
    seed=r"\d+",
    split="train|test",
    t=r"\d+(\.5)?",
    run=r"[^/]+/[^/]+/(tf|qe|mc)/seed\d+|simulated/[^/]+",
    name="[^/]+",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/model.smk"
include: "rules/loop.smk"
include: "rules/trajectory.smk"
include: "rules/analysis.smk"


rule all:
    input:
        get_final_outputs(),
        get_analysis_outputs(),
    default_target: True


onsuccess:
    print("svgap: finished. Per run (trajectory.parquet, trajectory.png/.pdf, analysis/):")
    for path, _ in analysed_runs():
        print(f"  {path}")
    if analysed_runs():
        print("  across runs: results/analysis/ (table2, table4, parameters, comparison, early: .md/.tex)")
