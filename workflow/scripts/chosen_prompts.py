"""Rule chosen_prompts (rules/cross.smk): which train prompts take external data, from which epoch."""
from _job import job, params

from svgap.stages import chosen_prompts

with job(snakemake):
    chosen_prompts(external=snakemake.input.external, out=snakemake.output[0], seed=int(snakemake.wildcards.seed),
                   **params(snakemake))
