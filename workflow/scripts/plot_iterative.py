"""Rule plot_iterative (rules/evaluation.smk): MTG Fig. 4 (left) of a task."""
from _job import job, params

from svgap.stages import plot_iterative

with job(snakemake):
    plot_iterative(table=snakemake.input[0], png=snakemake.output.png, pdf=snakemake.output.pdf, **params(snakemake))
