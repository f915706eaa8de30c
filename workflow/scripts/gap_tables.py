"""Rule gap_tables (rules/gap.smk): MTG Tables 1-7 of a task."""
from _job import job, params

from svgap.gap.stages import gap_tables

with job(snakemake):
    i = snakemake.input
    gap_tables(summaries=list(i.summaries), correlations=list(i.correlations), matches=list(i.matches),
               **dict(snakemake.output.items()), **params(snakemake))
