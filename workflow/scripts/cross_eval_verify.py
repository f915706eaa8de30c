"""Rule cross_eval_verify (rules/evaluation.smk): a verifier checkpoint's verdicts on a solver's responses."""
from _job import job, optional, params

from svgap.stages import cross_eval_verify

with job(snakemake):
    i = snakemake.input
    cross_eval_verify(model=i.model, adapter=optional(i.adapter), data=i.data, generations=i.generations,
                      verify=snakemake.output.verify, threads=snakemake.threads, **params(snakemake))
