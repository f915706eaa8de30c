"""Rule cross_gamma (rules/cross.smk): gamma of Eq. 12 from the runs, and Prop. 5.1 against the measurement."""
from _job import job, params

from svgap.dynamics.stages import cross_gamma

with job(snakemake):
    cross_gamma(dict(snakemake.input.items()), dict(snakemake.output.items()), **params(snakemake))
