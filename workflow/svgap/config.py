"""The workflow's config outside a Snakemake run: config/config.yaml overlaid with other files.

`snakemake --configfile a.yaml b.yaml` loads config/config.yaml (the Snakefile's `configfile:`),
merges each file over it with `snakemake.utils.update_config` (nested mappings key by key, anything
else replaced) and validates the result against config/schema.yaml, which fills in the defaults.
`load` does the same for the benchmarks and the tests that call the library directly.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def load(*overlays: Path, root: Path = Path(".")) -> dict:
    """config/config.yaml of the workflow at `root`, each overlay merged over it, schema defaults filled."""
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    for path in overlays:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(root / "config" / "schema.yaml"))
    return config
