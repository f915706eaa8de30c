"""Rule pass_at_k (rules/evaluation.smk): pass@k of a run's checkpoints."""
from _job import job, params

from svgap.stages import pass_at_k

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    pass_at_k(grades=list(i.grades), table=o.table, csv=o.csv, **params(snakemake))
