"""Rule cross_improvement (rules/analysis.smk): Prop. 5.1's Early / Uniform / Late from a run's fits."""
from _job import job, params

from svgap.dynamics.stages import cross_improvement

with job(snakemake):
    cross_improvement(snakemake.input[0], dict(snakemake.output.items()), **params(snakemake))
