"""Rule n_sweep_sample (rules/evaluation.smk): the base model's max(N) responses per prompt and its verdicts."""
from _job import job, params

from svgap.stages import generate_and_verify

with job(snakemake):
    i, o, w = snakemake.input, snakemake.output, snakemake.wildcards
    generate_and_verify(model=i.model, adapter=None, data=i.data, generations=o.generations, verify=o.verify,
                        seed=int(w.seed), t=0, threads=snakemake.threads, **params(snakemake))
