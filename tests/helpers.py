"""Running the workflow from tests: a fresh copy of it, snakemake on it, and dry-run plans."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

from svgap.config import INFERENCE_KEYS, verifier_settings

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


def snakemake(workdir: Path, *args: str, timeout: int = 1800, configfile: str | list[str] = "config/ci.yaml",
              env: dict | None = None):
    configfiles = [configfile] if isinstance(configfile, str) else configfile
    return subprocess.run([SNAKEMAKE, "--configfile", *configfiles, *args], cwd=workdir, text=True,
                          capture_output=True, timeout=timeout, env=env)


def tables_of(workdir: Path) -> dict[str, pl.DataFrame]:
    root = workdir / "results"
    return {str(p.relative_to(root)): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))}


def _workflow(api, snakefile: str, workdir: str, configfiles: list[str]):
    return api.workflow(resource_settings=ResourceSettings(cores=1),
                        config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                        snakefile=Path(snakefile), workdir=Path(workdir))


def dry_run_outputs(snakefile: str, workdir: str, configfiles: list[str]) -> list[str]:
    """Outputs a dry run would (re)make, through the Snakemake API (in the calling process)."""
    outputs: list[str] = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        _workflow(api, snakefile, workdir, configfiles).dag().execute_workflow(executor="dryrun",
                                                                              updated_files=outputs)
    return [str(o) for o in outputs]


def dry_run_outputs_many(snakefile: str, workdir: str, configfile_lists: list[list[str]]) -> list[list[str]]:
    """dry_run_outputs of several configurations, one after the other in the calling process."""
    return [dry_run_outputs(snakefile, workdir, configfiles) for configfiles in configfile_lists]


def report_outputs(snakefile: str, workdir: str, configfiles: list[str]) -> list[dict]:
    """Every output a rule registers for the report: rule, pattern (wildcards without their constraints,
    a run folder written {run}), category, caption (in the calling process)."""
    from snakemake.io import get_flag_value, is_flagged

    out = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        for rule in _workflow(api, snakefile, workdir, configfiles)._workflow.rules:
            for f in rule.output:
                if is_flagged(f, "report"):
                    flag = get_flag_value(f, "report")
                    pattern = re.sub(r"\{(\w+),[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", r"{\1}", str(f))
                    pattern = pattern.replace("{model}/{task}/{arm}/seed{seed}", "{run}")
                    out.append({"rule": rule.name, "pattern": pattern, "category": flag.category,
                                "caption": str(flag.caption.get_path_or_uri(secret_free=True))})
    return out


def in_child(function: str, workdir: Path, configfiles: list):
    """helpers.<function>(Snakefile, workdir, configfiles) in a child process, its JSON result back.

    A workflow built in the test process leaves Snakemake objects in module namespaces that later break
    vLLM's start-up scan of sys.modules (its kernel dispatcher calls vars(x).get on every module
    attribute; Snakemake's storage proxy answers any attribute), and it changes the working directory.
    """
    code = (f"import json, sys; from helpers import {function}; "
            f"print(json.dumps({function}(*json.loads(sys.argv[1]))))")
    args = json.dumps([str(workdir / "Snakefile"), str(workdir), configfiles], default=str)  # paths as strings
    done = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True,
                          cwd=Path(__file__).parent, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{function} failed:\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def planned(workdir: Path, overlay: dict | None = None, configfile: str | list[str] = "config/ci.yaml") -> set[str]:
    """Outputs a dry run would (re)make, with an optional config overlay (planned in a child process)."""
    return plans(workdir, [overlay], configfile)[0]


def plans(workdir: Path, overlays: list[dict | None], configfile: str | list[str] = "config/ci.yaml") -> list[set[str]]:
    """planned() of each overlay, all planned in one child process (one interpreter start, one import of
    Snakemake and the library for all of them); `configfile`: one or several, the overlay after them."""
    lists = []
    for i, overlay in enumerate(overlays):
        configfiles = [workdir / c for c in ([configfile] if isinstance(configfile, str) else configfile)]
        if overlay:
            path = workdir / "config" / f"overlay{i}.yaml"
            path.write_text(yaml.safe_dump(overlay))
            configfiles.append(path)
        lists.append(configfiles)
    return [set(p) for p in in_child("dry_run_outputs_many", workdir, lists)]


def names(outputs: set[str], *parts: str) -> set[str]:
    return {o for o in outputs if all(p in o for p in parts)}


def inference_params(config: dict) -> dict:
    """The inference slice rule generate_and_verify passes for the transformers backend (rules/common.smk)."""
    return {"backend": "transformers"} | {k: config["inference"][k] for k in INFERENCE_KEYS["transformers"]}


def verifier_params(config: dict, method: str = "tf") -> dict:
    """The verifier slice rule generate_and_verify passes (rules/loop.smk) to a run selecting by `method`: sigma
    and empty_policy are select's, verifier.methods is resolved for the run (`auto`: what it selects by)."""
    return verifier_settings(config, [method])
