"""Rule score_external (rules/cross.smk): the external responses' NLL under the model of checkpoint t."""
from _job import checkpoint, job, optional, params

from svgap.stages import score_external

with job(snakemake):
    i = snakemake.input
    score_external(model=i.model, adapter=optional(i.adapter), data=i.data, external=i.external, chosen=i.chosen,
                   out=snakemake.output[0], t=checkpoint(snakemake.wildcards.t), threads=snakemake.threads,
                   **params(snakemake))
