"""Rule gap_tables (rules/gap.smk): MTG Tables 1-7 of a task."""
from _job import job, params

from svgap.gap.stages import gap_tables

with job(snakemake):
    gap_tables(summaries=list(snakemake.input.summaries), **dict(snakemake.output.items()), **params(snakemake))
