"""Rule plot_n_sweep (rules/evaluation.smk): SVG Figs. 18-20."""
from _job import job, params

from svgap.stages import plot_n_sweep

with job(snakemake):
    o = snakemake.output
    plot_n_sweep(table=snakemake.input[0], png=o.png, pdf=o.pdf, **params(snakemake))
