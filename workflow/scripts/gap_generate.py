"""Rule gap_generate (rules/gap.smk): MTG's one sampling of a base model on a task."""
from _job import job, params

from svgap.gap.stages import gap_generate

with job(snakemake):
    i = snakemake.input
    gap_generate(model=i.model, data=i.data, out=snakemake.output[0], threads=snakemake.threads, **params(snakemake))
