"""Rule plot_trajectory (rules/trajectory.smk): U_s, U_v, G and the accuracies of a run against t."""
from _job import job, params

from svgap.stages import plot_trajectory

with job(snakemake):
    plot_trajectory(trajectory=snakemake.input[0], png=snakemake.output.png, pdf=snakemake.output.pdf,
                    **params(snakemake))
