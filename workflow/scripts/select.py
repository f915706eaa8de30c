"""Rule select (rules/loop.smk): grades, Best-of-N picks and metrics of checkpoint t."""
from _job import checkpoint, job, params

from svgap.stages import select

with job(snakemake):
    i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
    select(data=i.data, generations=i.generations, verify=i.verify, grades=o.grades, picks=o.picks,
           metrics=o.metrics, method=w.method, t=checkpoint(w.t), **params(snakemake))
