"""Rule compare_laws (rules/analysis.smk): the exponential law against its rivals of one trajectory."""
from _job import job, params

from svgap.dynamics.stages import compare_laws

with job(snakemake):
    compare_laws(snakemake.input[0], dict(snakemake.output.items()), **params(snakemake))
