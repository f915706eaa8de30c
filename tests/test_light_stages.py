"""The table and figure stages run without torch (envs/tables.yaml has none)."""

import subprocess
import sys

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
