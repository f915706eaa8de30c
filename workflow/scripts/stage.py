"""The one script every rule runs: it sets up logging and calls the stage function of the rule.

Rules pass paths through input/output and their slice of the config through params; this file
only maps `snakemake.rule` to a function of `svgap.stages` (the library does the work).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821  (the workflow/ folder, for svgap)

from svgap.cli import run_rule  # noqa: E402

run_rule(snakemake)  # noqa: F821
