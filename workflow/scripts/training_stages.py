"""Rule training_stages (rules/evaluation.smk): the stages' joint fits side by side."""
from _job import job, params

from svgap.stages import training_stages

with job(snakemake):
    o = snakemake.output
    training_stages(fits=list(snakemake.input.fits), table=o.table, csv=o.csv, md=o.md, **params(snakemake))
