"""Rule data (rules/data.smk): the prompts and gold answers of a task, both splits."""
from _job import job, params

from svgap.stages import data

with job(snakemake):
    data(snakemake.output[0], **params(snakemake))
