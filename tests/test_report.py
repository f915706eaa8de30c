"""The report and the index: every figure and table a rule registers for `snakemake --report` is one the
paper registry (svgap.paper.ITEMS) names, in a category that follows the papers, with a caption that says
which paper figure or table it reproduces; and what the registry names for the report is registered.
Building the report from a real run is tests/test_workflow.py::test_the_report_holds_every_registered_output."""

from pathlib import Path

import pytest
from helpers import ROOT, in_child

from svgap.paper import CATEGORIES, INDEX, ITEMS, index_markdown, item_patterns, pattern_regex

REPORTED = in_child("report_outputs", ROOT, [ROOT / "config" / "ci.yaml"])
SHOWN = (".png", ".csv", ".html")  # what the registry's items show in the report (.md, .tex, .pdf are files)


def test_every_report_output_is_a_paper_item_in_a_paper_category():
    patterns = item_patterns() | {INDEX}
    for out in REPORTED:
        assert out["pattern"].startswith("results/"), out
        assert out["pattern"].removeprefix("results/") in patterns, f"{out['rule']}: {out['pattern']} is in no item"
        assert out["category"] in CATEGORIES.values(), out


def test_every_item_shown_in_the_report_is_registered_by_a_rule():
    registered = {out["pattern"].removeprefix("results/") for out in REPORTED}
    missing = sorted(p for p in item_patterns() if p.endswith(SHOWN) and p not in registered)
    assert not missing, f"paper items whose files no rule registers for the report: {missing}"


@pytest.mark.parametrize("out", REPORTED, ids=lambda o: o["pattern"])
def test_each_caption_names_what_it_reproduces_and_the_run(out):
    text = Path(out["caption"]).read_text()
    assert "**" in text.split("\n")[0]  # opens with what it reproduces, in bold
    assert any(name in text for name in ("SVG", "MTG", "svgap", "Index")), out["caption"]
    if "{run}" in out["pattern"]:
        assert "snakemake.params.settings" in text, f"{out['caption']}: the run's settings are not shown"


def test_the_index_lists_every_item_and_the_files_of_the_config():
    targets = ["results/m/add/tf/seed0/trajectory.png", "results/m/add/tf/seed0/analysis/fits.png",
               "results/simulated/ref/analysis/fits.png", "results/analysis/table4.html", "results/other.png"]
    text = index_markdown(targets)
    for item in ITEMS:
        assert f"| {item.id} |" in text, item.id
    row = next(line for line in text.splitlines() if line.startswith("| Figure 4 |") and "R^2" in line)
    assert "m/add/tf/seed0/analysis/fits.png" in row and "simulated/ref/analysis/fits.png" in row
    assert "other.png" not in text
    assert "| Figure 21 |" in text and "not produced by this config (svgap does not build it yet)" in text
    table2 = next(line for line in text.splitlines() if line.startswith("| Table 2 |") and "Pearson" in line)
    assert table2.endswith("| not produced by this config |")  # an item svgap builds, which this config did not


def test_pattern_runs_are_run_folders_or_simulated_trajectories():
    regex = pattern_regex("{run}/analysis/fits.png")
    assert regex.match("results/phi-4-mini/gsm8k/qe/seed3/analysis/fits.png")
    assert regex.match("results/simulated/paper-like/analysis/fits.png")
    assert not regex.match("results/analysis/fits.png") and not regex.match("results/a/b/analysis/fits.png")
