"""Rule paper_tables (rules/analysis.smk): the tables across runs (Tables 2 and 4, parameters, ...)."""
from _job import job, params

from svgap.dynamics.stages import paper_tables

with job(snakemake):
    paper_tables(dict(snakemake.input.items()), dict(snakemake.output.items()), **params(snakemake))
