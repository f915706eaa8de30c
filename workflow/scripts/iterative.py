"""Rule iterative (rules/evaluation.smk): MTG Fig. 4's accuracy and gap per round, over a task's runs."""
from _job import job, params

from svgap.stages import iterative

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    iterative(trajectories=list(i.trajectories), table=o.table, csv=o.csv, md=o.md, **params(snakemake))
