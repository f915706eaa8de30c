"""Rule base_model (rules/model.smk): the base model made loadable, and its descriptor."""
from _job import job, optional, params

from svgap.stages import base_model

with job(snakemake):
    i = snakemake.input
    base_model(snakemake.output.descriptor, snakemake.output.weights, base=optional(i.get("base", [])),
               adapter=optional(i.get("adapter", [])), **params(snakemake))
