"""svgap: the solver-verifier gap of LLM self-improvement, as a library the Snakemake rules call."""

__version__ = "0.1.0"
