"""Rule n_sweep (rules/evaluation.smk): solver and verifier figures at every N."""
from _job import job, params

from svgap.stages import n_sweep

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    n_sweep(data=i.data, generations=i.generations, verify=i.verify, table=o.table, csv=o.csv, md=o.md,
            seed=int(snakemake.wildcards.seed), **params(snakemake))
