"""Rule gap_verify (rules/gap.smk): every MTG verification method on the sampling."""
from _job import job, params

from svgap.gap.stages import gap_verify

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    gap_verify(model=i.model, data=i.data, generations=i.generations, scores=o.scores, matches=o.matches,
               repeats=o.repeats, threads=snakemake.threads, **params(snakemake))
