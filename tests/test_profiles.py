"""profiles/slurm: every rule it configures exists, and the model rules, and only they, ask for a GPU."""

import re
from pathlib import Path

import yte

ROOT = Path(__file__).resolve().parents[1]
# the rules that run a model (a checkpoint's, or a teacher's); base_model only converts or locates weights (no GPU)
MODEL_RULES = {"generate_and_verify", "finetune", "score_external", "external_data", "gap_generate", "gap_verify"}


def workflow_rules() -> set[str]:
    sources = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    return {name for src in sources for name in re.findall(r"^rule (\w+):", src.read_text(), re.MULTILINE)}


def slurm_profile() -> dict:
    with open(ROOT / "profiles" / "slurm" / "config.yaml") as f:
        return yte.process_yaml(f, require_use_yte=True)


def test_the_slurm_profile_configures_only_rules_of_the_workflow():
    profile, rules = slurm_profile(), workflow_rules()
    assert MODEL_RULES <= rules
    for key in ("set-resources", "set-threads"):
        unknown = set(profile[key]) - rules
        assert not unknown, f"profiles/slurm/config.yaml {key}: {sorted(unknown)} are not rules of the workflow"


def test_the_model_rules_and_only_they_ask_for_a_gpu(monkeypatch):
    monkeypatch.setenv("SVGAP_SLURM_GPU_PARTITION", "gpu")
    monkeypatch.setenv("SVGAP_SLURM_GPU_MODEL", "h100")
    profile = slurm_profile()
    resources = profile["set-resources"]
    assert {rule for rule, r in resources.items() if r.get("gpu")} == MODEL_RULES
    assert "gpu" not in profile["default-resources"]
    for rule in MODEL_RULES:
        r = resources[rule]
        assert (r["gpu"], r["gpu_model"], r["slurm_partition"]) == (1, "h100", "gpu"), rule
        assert profile["set-threads"][rule] == r["cpus_per_gpu"], rule
    assert "--gres" not in repr(profile)  # GPUs through the plugin's gpu resource only
