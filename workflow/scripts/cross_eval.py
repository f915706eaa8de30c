"""Rule cross_eval (rules/evaluation.smk): the solver x verifier matrices of a task."""
from _job import job, params

from svgap.stages import cross_eval

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    cross_eval(data=i.data, generations=list(i.generations), verify=list(i.verify), table=o.table, csv=o.csv,
               md=o.md, **params(snakemake))
