"""Rule external_data (rules/cross.smk): one external response per train prompt, graded."""
from _job import job, optional, params

from svgap.stages import external_data

with job(snakemake):
    i = snakemake.input
    external_data(data=i.data, out=snakemake.output[0], model=optional(i.model), threads=snakemake.threads,
                  **params(snakemake))
