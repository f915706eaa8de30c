"""Rule index (rules/index.smk): results/index.md, the papers' tables and figures and their files."""
from _job import job

from svgap.stages import index

with job(snakemake):
    index(out=snakemake.output[0], targets=list(snakemake.input))
