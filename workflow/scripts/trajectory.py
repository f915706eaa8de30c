"""Rule trajectory (rules/trajectory.smk): every checkpoint's metrics of a run in one table."""
from _job import job, params

from svgap.stages import trajectory

with job(snakemake):
    trajectory(metrics=snakemake.input.metrics, out=snakemake.output.table, csv=snakemake.output.csv,
               **params(snakemake))
