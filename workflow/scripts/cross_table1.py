"""Rule cross_table1 (rules/cross.smk): SVG Table 1 and its figure from the cross-improvement runs."""
from _job import job, params

from svgap.dynamics.stages import cross_table1

with job(snakemake):
    cross_table1(dict(snakemake.input.items()), dict(snakemake.output.items()), **params(snakemake))
