"""Rule plot_training_stages (rules/evaluation.smk): SVG Figs. 5 and 9."""
from _job import job, params

from svgap.stages import plot_training_stages

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    plot_training_stages(table=i.table, trajectories=list(i.trajectories), png=o.png, pdf=o.pdf, **params(snakemake))
