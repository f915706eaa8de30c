"""Rule gap_scaling_figures (rules/gap.smk): MTG Figs. 1 and 12."""
from _job import job, params

from svgap.gap.stages import gap_scaling_figures

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    gap_scaling_figures(fits=i.fits, points=i.points, png=o.png, pdf=o.pdf, gap_png=o.gap_png, gap_pdf=o.gap_pdf,
                        **params(snakemake))
