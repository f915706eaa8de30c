"""Rule generate_and_verify (rules/loop.smk): checkpoint t's samples and its own verdicts on them."""
from _job import checkpoint, job, optional, params

from svgap.stages import generate_and_verify

with job(snakemake):
    i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
    generate_and_verify(model=i.model, adapter=optional(i.adapter), data=i.data, generations=o.generations,
                        verify=o.verify, seed=int(w.seed), t=checkpoint(w.t), threads=snakemake.threads,
                        **params(snakemake))
