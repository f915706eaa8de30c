"""Rule base_model (rules/model.smk): the base model made loadable, and its descriptor."""
from _job import job, params

from svgap.stages import base_model

with job(snakemake):
    base_model(snakemake.output.descriptor, snakemake.output.weights, **params(snakemake))
