"""Rule finetune (rules/loop.smk): the adapter of epoch t from the picks of epoch t - 1."""
from _job import job, optional, params

from svgap.stages import finetune

with job(snakemake):
    i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
    finetune(model=i.model, adapter=optional(i.adapter), picks=i.picks, out=o.adapter,
             half=o.half if "half" in o.keys() else None, seed=int(w.seed), t=int(w.t),
             threads=snakemake.threads, **params(snakemake))
