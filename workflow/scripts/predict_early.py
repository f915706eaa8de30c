"""Rule predict_early (rules/analysis.smk): U_s and its limit predicted from the first checkpoints of one trajectory."""
from _job import job, params

from svgap.dynamics.stages import predict_early

with job(snakemake):
    predict_early(snakemake.input[0], dict(snakemake.output.items()), **params(snakemake))
