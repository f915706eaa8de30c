"""Rule plot_cross_eval (rules/evaluation.smk): the cross-evaluation heat maps."""
from _job import job, params

from svgap.stages import plot_cross_eval

with job(snakemake):
    o = snakemake.output
    plot_cross_eval(table=snakemake.input[0], png=o.png, pdf=o.pdf, **params(snakemake))
