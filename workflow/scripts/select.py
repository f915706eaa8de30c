"""Rule select (rules/loop.smk): grades, Best-of-N picks and metrics of checkpoint t."""
from _job import checkpoint, job, optional, params

from svgap.stages import select

with job(snakemake):
    i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
    select(data=i.data, generations=i.generations, verify=i.verify, grades=o.grades, picks=o.picks,
           metrics=o.metrics, external=optional(i.external), chosen_table=optional(i.chosen), t=checkpoint(w.t),
           **params(snakemake))
