"""Rule plot_pass_at_k (rules/evaluation.smk): pass@k against k and against t."""
from _job import job, params

from svgap.stages import plot_pass_at_k

with job(snakemake):
    plot_pass_at_k(table=snakemake.input[0], png=snakemake.output.png, pdf=snakemake.output.pdf, **params(snakemake))
