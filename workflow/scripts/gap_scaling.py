"""Rule gap_scaling (rules/gap.smk): the relative gap and the gap against log pre-training FLOPs."""
from _job import job, params

from svgap.gap.stages import gap_scaling

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    gap_scaling(table=i.table, fits=o.fits, csv=o.csv, points=o.points, points_csv=o.points_csv, md=o.md,
                **params(snakemake))
