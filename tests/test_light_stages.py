"""The table and figure stages run without torch (envs/tables.yaml has none)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'torch', 'transformers', 'peft', 'accelerate', 'gguf'}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import svgap.stages, svgap.loop.trajectory, svgap.dynamics.stages, svgap.paper
from svgap.stages import data, select, trajectory, plot_trajectory, hyperparameters, index
from svgap.loop import bon, grading, metrics
print('imported without torch')
"""


def test_table_stages_import_without_torch():
    done = subprocess.run([sys.executable, "-c", BLOCK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "imported without torch" in done.stdout


def test_the_model_jobs_modules_leave_scipy_stats_to_the_jobs_that_use_it():
    """svgap.stages is what every job imports, the model jobs included; scipy.stats (about a second of a
    job's start) is imported by the metrics that need it (the AUROC of `select`), not by the import."""
    code = ("import sys, svgap.stages, svgap.loop.metrics as m, numpy as np; "
            "print('before', 'scipy.stats' in sys.modules); "
            "print('auroc', m.auroc(np.array([0.1, 0.9, 0.4]), np.array([False, True, True])), "
            "'scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["before False", "auroc 1.0 True"]


PLANNING = """
import sys
sys.path.insert(0, "tests")
from helpers import dry_run_outputs
dry_run_outputs("Snakefile", ".", ["config/ci.yaml"])
print(sorted({m.split(".")[0] for m in sys.modules} & {"matplotlib", "seaborn", "statsmodels", "torch"}),
      "scipy.stats" in sys.modules)
"""


def test_planning_leaves_the_plotting_and_statistics_libraries_to_the_jobs():
    """Parsing the workflow (every Snakemake start: a dry run, each job of a cluster run) imports none of
    matplotlib, seaborn, statsmodels, scipy.stats or torch: they took 3-4 s of every start."""
    done = subprocess.run([sys.executable, "-c", PLANNING], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[] False"
