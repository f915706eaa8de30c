"""The config schema: defaults, descriptions, and errors that name the key."""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from svgap.config import QE_KEYS, TF_KEYS, VERIFIER_KEYS, verifier_methods, verifier_settings
from svgap.config import load as load_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config" / "schema.yaml")


def load(name="config.yaml"):
    return yaml.safe_load((ROOT / "config" / name).read_text())


def test_shipped_configs_validate_and_get_defaults():
    for name in ("config.yaml", "ci.yaml"):
        cfg = load(name)
        validate(cfg, SCHEMA)
        assert cfg["verifier"]["temperature"] == 0.1  # a default from the schema (SVG Table 3)
        assert cfg["finetune"]["lora_rank"] == 16 and cfg["finetune"]["lora_dropout"] == 0.5
        assert cfg["verifier"]["sigma"] == {"tf": 0.5, "qe": 0.5, "p_correct": 0.5, "mc": 0.5, "cot_binary": 1,
                                            "cot_score": 8, "tournament": 1}
        assert set(cfg["verifier"]["quantile"].values()) == {None} and cfg["verifier"]["selection"] == "bon"


def test_empty_config_is_the_paper_defaults():
    cfg = {}
    validate(cfg, SCHEMA)
    assert cfg["loop"] == {"epochs": 10, "checkpoints_per_epoch": 2, "n_samples": 16, "max_new_tokens": 512,
                           "temperature": 1.0, "top_p": 1.0}
    assert cfg["gap"]["models"] == [] and cfg["gap"]["top_p"] == 0.9 and cfg["gap"]["n_samples"] == 128  # MTG §3
    assert cfg["finetune"]["lr"] == 1e-5 and cfg["finetune"]["weight_decay"] == 0.01
    assert cfg["models"]["smollm2-135m"]["source"] == "embedded"


@pytest.mark.parametrize("path,value,key,reason", [
    (("loop", "n_samples"), 0, "['loop']['n_samples']", "0 is less than the minimum of 1"),
    (("verifier", "sigma", "tf"), 1.5, "['verifier']['sigma']['tf']", "1.5 is greater than the maximum of 1"),
    (("verifier", "empty_policy"), "drop", "['verifier']['empty_policy']", "'drop' is not one of"),
    (("verifier", "tf_template"), "no placeholders", "['verifier']['tf_template']", "does not match"),
    (("finetune", "loss"), "mean", "['finetune']['loss']", "'mean' is not one of"),
    (("inference", "dtype"), "fp8", "['inference']['dtype']", "'fp8' is not one of"),
    (("loop", "epochs_typo"), 3, "['loop']", "('epochs_typo' was unexpected)"),
    (("runs", "methods"), ["tf", "xx"], "['runs']['methods'][1]", "'xx' is not one of"),
])
def test_bad_values_name_the_key(path, value, key, reason):
    cfg = copy.deepcopy(load())
    node = cfg
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    with pytest.raises(WorkflowError) as err:
        validate(cfg, SCHEMA)
    assert f"On instance{key}:" in str(err.value) and reason in str(err.value)


def test_local_model_needs_a_path():
    cfg = {"models": {"mine": {"source": "local"}}}
    with pytest.raises(WorkflowError) as err:
        validate(cfg, SCHEMA)
    assert "'path' is a required property" in str(err.value) and "On instance['models']['mine']:" in str(err.value)


def test_every_property_is_described():
    schema = yaml.safe_load(Path(SCHEMA).read_text())

    def walk(node, where):
        for name, sub in node.get("properties", {}).items():
            assert "description" in sub, f"schema property {where}{name} has no description"
            walk(sub, f"{where}{name}.")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], where + "*.")

    walk(schema, "")


def test_load_merges_overlays_as_snakemake_does_and_fills_defaults(tmp_path):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(yaml.safe_dump({"loop": {"n_samples": 3}, "runs": {"seeds": [4, 5]}}))
    second.write_text(yaml.safe_dump({"loop": {"epochs": 2}, "runs": {"seeds": [7]}}))
    base = load()
    cfg = load_config(first, second, root=ROOT)
    assert cfg["loop"]["n_samples"] == 3 and cfg["loop"]["epochs"] == 2  # nested keys merged, in order
    assert cfg["loop"]["max_new_tokens"] == base["loop"]["max_new_tokens"]  # siblings kept
    assert cfg["runs"]["seeds"] == [7] and cfg["runs"]["models"] == base["runs"]["models"]  # lists replaced
    assert cfg["verifier"]["temperature"] == 0.1  # a schema default
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"loop": {"n_samples": 0}}))
    with pytest.raises(WorkflowError, match=re.escape("On instance['loop']['n_samples']:")):
        load_config(tmp_path / "bad.yaml", root=ROOT)


def test_verifier_methods_auto_computes_what_each_job_selects_or_evaluates_by(tmp_path):
    """verifier.methods `auto` (the default): a job computes the loop's scores among the methods its responses are
    selected or evaluated by; a list is computed by every job."""
    cfg = load_config(root=ROOT)
    assert cfg["verifier"]["methods"] == "auto"
    every = ["tf", "qe", "p_correct"]
    for uses, computed in ((["tf"], ["tf"]), (["qe"], ["qe"]), (["qe", "tf"], ["tf", "qe"]), (["mc"], []),
                           (["cot_binary", "p_correct"], ["p_correct"]), (every, every)):
        assert verifier_methods(cfg, uses) == computed, uses
    settings = verifier_settings(cfg, ["qe"])  # a QE run's job: the TF prompt's settings left out of its params
    assert set(settings) == set(VERIFIER_KEYS) - set(TF_KEYS) and settings["methods"] == ["qe"]
    assert settings["qe_template"] == cfg["verifier"]["qe_template"]
    assert set(verifier_settings(cfg, ["tf"])) == set(VERIFIER_KEYS) - set(QE_KEYS)
    assert set(verifier_settings(cfg, ["p_correct"])) == set(VERIFIER_KEYS) - set(QE_KEYS)
    assert set(verifier_settings(cfg, ["tf", "qe"])) == set(VERIFIER_KEYS)
    assert set(verifier_settings(cfg, ["mc"])) == set(VERIFIER_KEYS) - set(TF_KEYS) - set(QE_KEYS)
    listed = {**cfg, "verifier": {**cfg["verifier"], "methods": ["tf", "qe"]}}
    assert verifier_methods(listed, ["mc"]) == verifier_methods(listed, ["tf"]) == ["tf", "qe"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"verifier": {"methods": "all"}}))
    with pytest.raises(WorkflowError, match=re.escape("On instance['verifier']['methods']:")):
        load_config(tmp_path / "bad.yaml", root=ROOT)


@pytest.mark.parametrize("overlay,message", [
    ({"runs": {"methods": ["qe"]}, "verifier": {"methods": ["tf", "p_correct"]}},
     "config runs.methods: a run selects by 'qe', which verifier.methods ['tf', 'p_correct'] does not compute"),
    ({"evaluation": {"n_sweep": {"models": ["smollm2-135m"], "tasks": ["add"], "methods": ["tf", "qe"]}},
      "verifier": {"methods": ["tf", "p_correct"]}},
     "config evaluation.n_sweep.methods: the N sweep evaluates by 'qe', which verifier.methods ['tf', 'p_correct']"),
    ({"runs": {"methods": ["qe"]}, "evaluation": {"cross": {"tasks": ["add"], "methods": ["p_correct"],
      "models": {"base": {"model": "smollm2-135m"}}}}, "verifier": {"methods": ["qe"]}},
     "config evaluation.cross.methods: cross-evaluation evaluates by 'p_correct', which verifier.methods ['qe']"),
])
def test_a_verifier_methods_list_must_hold_what_runs_and_evaluations_use(tmp_path, overlay, message):
    """(P(correct) comes with TF: a list with tf computes it.)"""
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(tmp_path / "bad.yaml", root=ROOT)
    (tmp_path / "auto.yaml").write_text(yaml.safe_dump({**overlay, "verifier": {"methods": "auto"}}))
    load_config(tmp_path / "auto.yaml", root=ROOT)  # auto computes what each job uses
    (tmp_path / "tf.yaml").write_text(yaml.safe_dump({"runs": {"methods": ["p_correct", "tf"]},
                                                      "verifier": {"methods": ["tf"]}}))
    load_config(tmp_path / "tf.yaml", root=ROOT)


@pytest.mark.parametrize("overlay,message", [
    ({"runs": {"schedules": ["sometimes"]}},
     "config runs.schedules: 'sometimes' is neither early, uniform, late nor defined under cross.eta"),
    ({"runs": {"schedules": ["front"]}, "cross": {"eta": {"front": [0.5, 0.5]}}},
     "config cross.eta.front: 2 shares for loop.epochs = 6"),
    ({"runs": {"schedules": ["front"]}, "cross": {"eta": {"front": [0.4, 0.1, 0.1, 0.1, 0.1, 0.1]}}},
     "config cross.eta.front: the shares sum to 0.9"),
    ({"runs": {"schedules": ["early"]}, "verifier": {"selection": "rejection"}},
     "config verifier.selection: rejection sampling gives a prompt several targets"),
    ({"runs": {"methods": ["qe"]}, "verifier": {"methods": ["tf", "p_correct"]}},
     "config runs.methods: a run selects by 'qe', which verifier.methods ['tf', 'p_correct'] does not compute"),
    ({"cross": {"sources": {"gsm8k": {"source": "reference"}}}},
     "config cross.sources: 'gsm8k' is not defined under tasks"),
    ({"cross": {"sources": {"add": {"source": "model", "model": "deepseek"}}}},
     "config cross.sources.add.model: 'deepseek' is not defined under models"),
])
def test_cross_improvement_config_errors_name_the_key(tmp_path, overlay, message):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(tmp_path / "bad.yaml", root=ROOT)


@pytest.mark.parametrize("overlay,message", [
    ({"gap": {"models": ["qwen"], "tasks": ["add"]}}, "config gap.models: 'qwen' is not defined under models"),
    ({"gap": {"models": ["smollm2-135m"], "tasks": ["gsm8k"]}}, "config gap.tasks: 'gsm8k' is not defined under tasks"),
    ({"gap": {"ensembles": {"both": ["CoT-B", "MC top 0.9"]}}}, "gap.ensembles.both: needs two or more filters"),
    ({"gap": {"filters": {"x": {"method": "mc"}}}}, "gap.filters.x: give exactly one of quantile and threshold"),
    ({"gap": {"summary": ["MC top 0.9"]}}, "config gap.summary: ['MC top 0.9'] are neither"),
])
def test_gap_config_errors_name_the_key(tmp_path, overlay, message):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(tmp_path / "bad.yaml", root=ROOT)


@pytest.mark.parametrize("cross,key,reason", [
    ({"budget": {"count": 3, "share": 0.5}}, "['cross']['budget']", "has too many properties"),
    ({"budget": {"share": 1.5}}, "['cross']['budget']['share']", "1.5 is greater than the maximum of 1"),
    ({"sources": {"add": {"source": "file"}}}, "['cross']['sources']['add']", "'path' is a required property"),
    ({"eta": {"early": [1.0]}}, "['cross']['eta']", "should not be valid"),
])
def test_bad_cross_values_name_the_key(cross, key, reason):
    cfg = copy.deepcopy(load())
    cfg["cross"] = cross
    with pytest.raises(WorkflowError) as err:
        validate(cfg, SCHEMA)
    assert f"On instance{key}:" in str(err.value) and reason in str(err.value)


def test_cross_defaults():
    cfg = copy.deepcopy(load())
    validate(cfg, SCHEMA)
    assert cfg["runs"]["schedules"] == []
    assert cfg["cross"] == {"budget": {"share": 0.25}, "late_epoch": 8, "eta": {}, "sources": {}}
    cfg = {"cross": {"sources": {"add": {"source": "model", "model": "smollm2-135m"}}}}
    validate(cfg, SCHEMA)
    assert cfg["cross"]["sources"]["add"] == {"source": "model", "model": "smollm2-135m", "missing": "error",
                                              "temperature": 0.7, "max_new_tokens": None}


def test_every_selection_method_is_known_to_the_schema_the_rules_and_the_library():
    """runs.methods, verifier.sigma and verifier.quantile of the schema, the Snakefile's method wildcard and
    svgap.loop.bon's score columns name the same methods."""
    from svgap.gap.filters import METHODS as MTG_METHODS
    from svgap.gap.verify import METHODS
    from svgap.loop.bon import SCORE_COLUMN

    schema = yaml.safe_load(Path(SCHEMA).read_text())["properties"]
    enum = schema["runs"]["properties"]["methods"]["items"]["enum"]
    wildcard = re.search(r'^METHOD = "([^"]+)"', (ROOT / "Snakefile").read_text(), re.M).group(1).split("|")
    verifier = schema["verifier"]["properties"]
    assert set(enum) == set(wildcard) == set(SCORE_COLUMN) == set(verifier["sigma"]["properties"])
    assert set(verifier["quantile"]["properties"]) == set(SCORE_COLUMN)
    assert set(MTG_METHODS) == set(METHODS) <= set(SCORE_COLUMN)
