"""Rule cross_eval_sample (rules/evaluation.smk): a base model's responses for the cross-evaluation."""
from _job import job, params

from svgap.stages import cross_eval_sample

with job(snakemake):
    i = snakemake.input
    cross_eval_sample(model=i.model, data=i.data, generations=snakemake.output.generations,
                      threads=snakemake.threads, **params(snakemake))
