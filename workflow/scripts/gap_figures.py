"""Rule gap_figures (rules/gap.smk): MTG Figs. 5-7, 11, 14-19 of a task."""
from _job import job, params

from svgap.gap.stages import gap_figures

with job(snakemake):
    i = snakemake.input
    gap_figures(prompts=list(i.prompts), sweeps=list(i.sweeps), rounds=list(i.rounds), scores=list(i.scores),
                variances=list(i.variances), correlations=list(i.correlations),
                out=dict(snakemake.output.items()), **params(snakemake))
