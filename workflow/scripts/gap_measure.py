"""Rule gap_measure (rules/gap.smk): gaps of every filter and ensemble, offline."""
from _job import job, params

from svgap.gap.stages import gap_measure

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    gap_measure(data=i.data, generations=i.generations, scores=i.scores, matches=i.matches, repeats=i.repeats,
                grades=o.grades, prompts=o.prompts, summary=o.summary, sweep=o.sweep, rounds=o.rounds,
                variance=o.variance, correlation=o.correlation, **params(snakemake))
