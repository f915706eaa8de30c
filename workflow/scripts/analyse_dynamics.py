"""Rule analyse_dynamics (rules/analysis.smk): fits, dG/dt against G with the F-test, Pearson r of one trajectory."""
from _job import job, params

from svgap.dynamics.stages import analyse_dynamics

with job(snakemake):
    analyse_dynamics(snakemake.input[0], dict(snakemake.output.items()), **params(snakemake))
