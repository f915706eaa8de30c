"""Running the workflow from tests: a fresh copy of it, snakemake on it, and dry-run plans."""

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def clone(dest: Path, models_from: Path | None = None) -> Path:
    """A copy of the workflow's files; optionally with the converted model of an earlier run."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "config", "workflow", "envs", "docs", "profiles", "tests/fixtures"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    if models_from is not None:
        shutil.copytree(models_from / "results" / "models", dest / "results" / "models")
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 1800, configfile: str = "config/ci.yaml"):
    return subprocess.run([SNAKEMAKE, "--configfile", configfile, *args], cwd=workdir, text=True,
                          capture_output=True, timeout=timeout)


def tables_of(workdir: Path) -> dict[str, pl.DataFrame]:
    root = workdir / "results"
    return {str(p.relative_to(root)): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))}


def planned(workdir: Path, overlay: dict | None = None, configfile: str = "config/ci.yaml") -> set[str]:
    """Outputs a dry run would (re)make, through the Snakemake API, with an optional config overlay."""
    configfiles = [workdir / configfile]
    if overlay:
        path = workdir / "config" / "overlay.yaml"
        path.write_text(yaml.safe_dump(overlay))
        configfiles.append(path)
    outputs: list[str] = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                config_settings=ConfigSettings(configfiles=configfiles),
                                snakefile=workdir / "Snakefile", workdir=workdir)
        workflow.dag().execute_workflow(executor="dryrun", updated_files=outputs)
    return {str(o) for o in outputs}


def names(outputs: set[str], *parts: str) -> set[str]:
    return {o for o in outputs if all(p in o for p in parts)}
