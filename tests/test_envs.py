"""envs/*.yaml (for conda users) pin what pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins(requirements):
    out = {}
    for req in requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", req.strip())
        assert m, f"not an exact pin: {req!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def test_conda_envs_agree_with_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    project = pins(meta["dependencies"] + [r for extra in meta["optional-dependencies"].values() for r in extra])
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = [d for d in deps if isinstance(d, dict) and "pip" in d]
        assert pip, f"{env.name}: no pip section"
        env_pins = pins(pip[0]["pip"])
        for name, version in env_pins.items():
            assert name in project, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert version == project[name], f"{env.name}: {name}=={version}, pyproject.toml has {project[name]}"
        python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
        assert python == ["python=3.11"], f"{env.name}: python pin {python}"


def test_every_rule_names_an_env_that_exists():
    for smk in (ROOT / "rules").glob("*.smk"):
        for env in re.findall(r'"(\.\./envs/[^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name}: conda env {env} missing"
