"""Rule plot_dgdt_runs (rules/analysis.smk): dG/dt against G across runs (Fig. 2 / 8)."""
from _job import job, params

from svgap.dynamics.stages import plot_dgdt_runs

with job(snakemake):
    plot_dgdt_runs(snakemake.input[0], dict(snakemake.output.items()), **params(snakemake))
