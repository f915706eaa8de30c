"""Rule plot_analysis (rules/analysis.smk): the figures of one trajectory's analysis."""
from _job import job, params

from svgap.dynamics.stages import plot_analysis

with job(snakemake):
    plot_analysis(dict(snakemake.input.items()), dict(snakemake.output.items()), **params(snakemake))
