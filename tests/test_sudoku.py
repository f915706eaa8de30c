"""4x4 Sudoku: the grids, the puzzles' unique solutions, the checker, extraction and the splits."""

import itertools

import pytest

from svgap.tasks.sudoku import (
    BOXES,
    EXAMPLE_ANSWER,
    EXAMPLE_PUZZLE,
    Sudoku,
    check,
    count_solutions,
    extract_grid,
    grade_grid,
    puzzle_pool,
    solution_grids,
)

SOLVED = "4321123434122143"  # the solution of EXAMPLE_PUZZLE (App. G)


def test_there_are_288_valid_complete_grids():
    grids = solution_grids()
    assert len(grids) == len(set(grids)) == 288
    assert all(check("0" * 16, g) for g in grids)
    # independently: stack permutation rows whose columns stay distinct, then keep those the checker accepts
    rows = ["".join(p) for p in itertools.permutations("1234")]
    stacks = [""]
    for _ in range(4):
        stacks = [s + r for s in stacks for r in rows if all(r[c] not in s[c::4] for c in range(4))]
    assert len(stacks) == 576  # 4x4 Latin squares; half of them have valid boxes
    assert sorted(g for g in stacks if check("0" * 16, g)) == list(grids)


@pytest.mark.parametrize("blanks", [9, 12, "max"])
def test_every_puzzle_has_exactly_one_solution_which_passes_the_checker(blanks):
    pool = puzzle_pool(blanks, 0)
    assert len(pool) == 288 and len({p for p, _ in pool}) == 288
    assert sorted(s for _, s in pool) == list(solution_grids())
    for puzzle, solution in pool:
        assert count_solutions(puzzle) == 1
        assert check(puzzle, solution)
        assert all(p in ("0", s) for p, s in zip(puzzle, solution, strict=True))
        if blanks != "max":
            assert puzzle.count("0") == blanks
        else:  # minimal: no given can be removed without losing uniqueness
            assert 10 <= puzzle.count("0") <= 12
            for i in (i for i, ch in enumerate(puzzle) if ch != "0"):
                assert count_solutions(puzzle[:i] + "0" + puzzle[i + 1:]) == 2


def test_puzzles_depend_on_the_seed_only():
    assert puzzle_pool.__wrapped__(9, 0) == puzzle_pool(9, 0)  # recomputed, not cached
    assert puzzle_pool(9, 0) != puzzle_pool(9, 1)


def test_solution_counter():
    assert count_solutions(EXAMPLE_PUZZLE) == 1
    assert count_solutions("0" * 16) == 2
    assert count_solutions("0" * 16, limit=1000) == 288
    assert count_solutions("1100" + "0" * 12) == 0  # two equal givens in a row
    assert count_solutions(SOLVED) == 1
    with pytest.raises(ValueError, match="16 digits"):
        count_solutions("12")


@pytest.mark.parametrize("grid,why", [
    ("4321123434122134", "duplicate in a row (and a column)"),
    ("4321123434122143"[:12] + "1243", "changed given"),
    ("1234341221434321", "valid grid, but it changes givens"),
    ("432112343412214", "too short"),
    ("43211234341221433", "too long"),
    ("432112343412214x", "not a digit"),
    ("4321123434122140", "empty cell"),
    ("4321123434122145", "digit outside 1-4"),
])
def test_checker_rejects(grid, why):
    assert not check(EXAMPLE_PUZZLE, grid), why


def test_checker_rejects_column_and_box_duplicates():
    # every row a permutation, but columns repeat
    assert not check("0" * 16, "1234" * 4)
    # rows and columns are Latin, but the 2x2 boxes repeat (a cyclic Latin square)
    latin = "1234" "2341" "3412" "4123"
    assert all(sorted(latin[c::4]) == list("1234") for c in range(4))
    assert not check("0" * 16, latin)
    assert any(sorted(latin[i] for i in box) != list("1234") for box in BOXES)
    assert check(EXAMPLE_PUZZLE, SOLVED) and grade_grid(EXAMPLE_PUZZLE, SOLVED)
    assert not grade_grid(EXAMPLE_PUZZLE, None)


@pytest.mark.parametrize("response", [
    "Solution:\n43 21\n12 34\n34 12\n21 43",
    "4 3 2 1\n1 2 3 4\n3 4 1 2\n2 1 4 3\n",
    "4321\n1234\n3412\n2143",
    "[4, 3, 2, 1]\n[1, 2, 3, 4]\n[3, 4, 1, 2]\n[2, 1, 4, 3]",
    "[[4, 3, 2, 1], [1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3]]",
    "| 4 | 3 | 2 | 1 |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |\n| 3 | 4 | 1 | 2 |\n| 2 | 1 | 4 | 3 |",
    "4 3 | 2 1\n1 2 | 3 4\n----+----\n3 4 | 1 2\n2 1 | 4 3",
    "Row 1: 4 3 2 1\nRow 2: 1 2 3 4\nRow 3: 3 4 1 2\nRow 4: 2 1 4 3",
    "**Row 1:** 4 3 2 1\n**Row 2:** 1 2 3 4\n**Row 3:** 3 4 1 2\n**Row 4:** 2 1 4 3",
    "1. 4 3 2 1\n2. 1 2 3 4\n3. 3 4 1 2\n4. 2 1 4 3",
    "The answer: 4321123434122143",
    "Solution:\n\n43 21\n\n12 34\n\n34 12\n\n21 43\n\nDone.",
    "```\n4321\n1234\n3412\n2143\n```",
    # the last complete grid wins: a wrong first try, the puzzle restated (with 0s), then the answer
    "1234\n1234\n1234\n1234\nPuzzle:\n03 21\n00 30\n04 00\n21 00\nSolution:\n43 21\n12 34\n34 12\n21 43",
    EXAMPLE_ANSWER,
])
def test_extraction_formats(response):
    assert extract_grid(response) == SOLVED
    assert Sudoku().extract(response) == SOLVED


@pytest.mark.parametrize("response", [
    "",
    "I cannot solve this.",
    "Puzzle:\n03 21\n00 30\n04 00\n21 00",  # blanks left
    "43 21\n12 34\n34 12",  # three rows
    "43 21\n12 34\nthen\n34 12\n21 43",  # text between rows
    "4 3 2 1\n1 2 3 4\n3 4 1 2\n2 1 4 5",  # a digit outside 1-4
    "4 3 _ 1\n1 2 3 4\n3 4 1 2\n2 1 4 3",
    "432 1234 3412 2143",  # 15 digits
    "Row 1: 4 3 2 1 (no repetition)\nRow 2: 1 2 3 4\nRow 3: 3 4 1 2\nRow 4: 2 1 4 3",
])
def test_extraction_rejects(response):
    assert extract_grid(response) is None


def test_grading_agrees_with_the_checker():
    task = Sudoku()
    items = task.items(20, 20, seed=0)
    for it in items["train"] + items["test"]:
        puzzle = it.meta["puzzle"]
        assert it.prompt_id == puzzle and puzzle in it.question.replace(" ", "").replace("\n", "")
        assert task.is_correct(it.answer, it.answer) and grade_grid(puzzle, it.answer)
        assert not task.is_correct(None, it.answer)
        for other in solution_grids()[:20]:
            assert task.is_correct(other, it.answer) == grade_grid(puzzle, other)


def test_shots_are_consistent():
    task = Sudoku()
    (q, a), = task.solver_shots
    assert "03 21\n00 30\n04 00\n21 00" in q and grade_grid(EXAMPLE_PUZZLE, task.extract(a))
    assert [s.quality for s in task.verifier_shots] == [1.0, 0.0, 1.0, 0.0]
    for shot in task.verifier_shots:
        puzzle = shot.question.split("Puzzle:\n")[1].replace(" ", "").replace("\n", "")
        assert count_solutions(puzzle) == 1
        assert grade_grid(puzzle, task.extract(shot.response)) == (shot.quality == 1.0)
    assert Sudoku({"shots": 0}).solver_shots == ()


def test_items_are_deterministic_and_disjoint():
    task = Sudoku()
    a, b = task.items(100, 50, seed=3), task.items(100, 50, seed=3)
    assert a == b
    train, test = {it.prompt_id for it in a["train"]}, {it.prompt_id for it in a["test"]}
    assert len(train) == 100 and len(test) == 50 and not train & test
    assert all(it.answer in solution_grids() and it.meta["blanks"] == 9 for it in a["train"] + a["test"])
    assert a != task.items(100, 50, seed=4)
    everything = task.items(200, 88, seed=0)
    assert len({it.prompt_id for it in everything["train"] + everything["test"]}) == 288
    # a fixed puzzle_seed keeps the pool and lets the split seed only reorder it
    fixed = Sudoku({"puzzle_seed": 7})
    assert ({it.prompt_id for it in fixed.items(288, 0, seed=1)["train"]}
            == {it.prompt_id for it in fixed.items(288, 0, seed=2)["train"]})


def test_too_many_puzzles_and_bad_options():
    with pytest.raises(ValueError, match="only 288"):
        Sudoku().items(200, 89, seed=0)
    for blanks in (0, 13, "many", True):
        with pytest.raises(ValueError, match="blanks"):
            Sudoku({"blanks": blanks})
    with pytest.raises(ValueError, match="shots"):
        Sudoku({"shots": 2})
