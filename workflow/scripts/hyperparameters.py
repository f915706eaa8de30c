"""Rule hyperparameters (rules/index.smk): SVG Table 3 beside this config's values."""
from _job import job, params

from svgap.stages import hyperparameters

with job(snakemake):
    hyperparameters(html=snakemake.output.html, md=snakemake.output.md, **params(snakemake))
