"""Rule simulate_trajectory (rules/analysis.smk): a trajectory with known parameters."""
from _job import job

from svgap.dynamics.stages import simulate_trajectory

with job(snakemake):
    simulate_trajectory(snakemake.output[0], **snakemake.params.simulation)
