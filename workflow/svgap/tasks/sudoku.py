"""Sudoku: 4x4 puzzles with exactly one solution, the hard-to-solve, easy-to-check task of MTG.

"Mind the Gap" (Song et al., ICLR 2025, §4.4 and App. G) uses 4x4 Sudoku puzzles, each with a unique
solution, 288 in total: one per valid complete 4x4 grid. This module makes such a pool itself:

- It enumerates the 288 complete grids (digits 1-4; each row, column and 2x2 box holds 1-4 once).
- From each grid it removes cells in an order drawn from a seed, keeping a removal only while the
  puzzle still has exactly one solution (an exact counter that stops at 2).
- Blanks (option `blanks`): the paper does not say how many cells are empty, but both of its App. G
  examples have 9 empty cells (7 givens) and a unique solution, so 9 is the default; every grid has
  such puzzles (tests/test_sudoku.py checks all 288), and so it has for every count up to 12.
  `blanks: max` removes cells until no further one can go (a minimal puzzle, 10-12 blanks); an integer
  asks for exactly that many (1..12: a unique 4x4 puzzle needs at least 4 givens).

Questions follow the App. G generation prompt in our own words: the rules, then the puzzle as four rows
of two digit pairs ('03 21'), 0 for an empty cell; the answer is the solved grid in the same format.
Gold answers are the solution as 16 digits, row by row.
"""

from __future__ import annotations

import functools
import random
import re

from svgap.tasks import templates
from svgap.tasks.base import Item, Task, VerifierShot

SIZE = 4
N_CELLS = SIZE * SIZE
N_GRIDS = 288  # valid complete 4x4 grids
DEFAULT_BLANKS = 9  # as in both App. G examples
MAX_BLANKS = 12  # a 4x4 puzzle with a unique solution needs at least 4 givens
MAX_ATTEMPTS = 200  # removal orders tried per grid before giving up on an exact blank count

ROWS = tuple(tuple(r * SIZE + c for c in range(SIZE)) for r in range(SIZE))
COLUMNS = tuple(tuple(r * SIZE + c for r in range(SIZE)) for c in range(SIZE))
BOXES = tuple(tuple((br + r) * SIZE + bc + c for r in range(2) for c in range(2))
              for br in (0, 2) for bc in (0, 2))
UNITS = ROWS + COLUMNS + BOXES
#: the cells sharing a row, column or box with each cell
PEERS = tuple(frozenset(p for unit in UNITS if i in unit for p in unit) - {i} for i in range(N_CELLS))


# --- grids, the checker and the solution counter -----------------------------------------------------

def _cells(text: str, digits: str) -> list[int] | None:
    """The 16 cells of a grid string, or None unless it is 16 characters from `digits`."""
    if len(text) != N_CELLS or any(ch not in digits for ch in text):
        return None
    return [int(ch) for ch in text]


def _puzzle_cells(puzzle: str) -> list[int]:
    cells = _cells(puzzle, "01234")
    if cells is None:
        raise ValueError(f"sudoku: a puzzle is 16 digits 0-4 (0 for an empty cell), not {puzzle!r}")
    return cells


def check(puzzle: str, grid: str) -> bool:
    """Whether `grid` (16 digits) solves `puzzle` (16 digits, 0 empty): every row, column and 2x2 box
    is a permutation of 1..4 and every given of the puzzle is kept. A malformed grid is False."""
    givens, cells = _puzzle_cells(puzzle), _cells(grid, "1234")
    if cells is None:
        return False
    if any(given and given != cell for given, cell in zip(givens, cells, strict=True)):
        return False
    return all(sorted(cells[i] for i in unit) == [1, 2, 3, 4] for unit in UNITS)


def _candidates(cells: list[int], i: int) -> list[int]:
    used = {cells[p] for p in PEERS[i]}
    return [d for d in range(1, SIZE + 1) if d not in used]


def _count(cells: list[int], limit: int) -> int:
    """Solutions of a consistent partial grid (0 empty), counted up to `limit`; fills `cells` in place
    while searching and restores it."""
    if 0 not in cells:
        return 1
    i = cells.index(0)
    found = 0
    for digit in _candidates(cells, i):
        cells[i] = digit
        found += _count(cells, limit - found)
        cells[i] = 0
        if found >= limit:
            break
    return found


def count_solutions(puzzle: str, limit: int = 2) -> int:
    """The number of solutions of `puzzle`, exact up to `limit` (the search stops there): with the
    default 2, 0 is unsolvable, 1 unique and 2 ambiguous."""
    if limit < 1:
        raise ValueError(f"sudoku: limit must be at least 1, not {limit}")
    cells = _puzzle_cells(puzzle)
    if any(v and any(cells[p] == v for p in PEERS[i]) for i, v in enumerate(cells)):
        return 0  # two equal givens in a row, column or box
    return _count(cells, limit)


@functools.cache
def solution_grids() -> tuple[str, ...]:
    """All valid complete 4x4 grids (288), in lexicographic order."""
    grids: list[str] = []

    def fill(cells: list[int], i: int) -> None:
        if i == N_CELLS:
            grids.append("".join(map(str, cells)))
            return
        for digit in _candidates(cells, i):
            cells[i] = digit
            fill(cells, i + 1)
            cells[i] = 0

    fill([0] * N_CELLS, 0)
    return tuple(grids)


# --- puzzles ----------------------------------------------------------------------------------------

def _remove(grid: str, order: list[int], target: int | None) -> str:
    """Empty the cells of `grid` in `order`, skipping a cell whose removal would allow a second
    solution, until `target` cells are empty (None: through the whole order). Removing a cell only adds
    solutions, so a cell skipped once stays unremovable: a full pass leaves a minimal puzzle."""
    cells = [int(ch) for ch in grid]
    blanks = 0
    for i in order:
        if blanks == target:
            break
        kept, cells[i] = cells[i], 0
        if _count(cells, 2) == 1:
            blanks += 1
        else:
            cells[i] = kept
    return "".join(map(str, cells))


def make_puzzle(grid: str, blanks: int | str, rng: random.Random) -> str:
    """A puzzle with exactly one solution, `grid`, and `blanks` empty cells ('max': a minimal one)."""
    target = None if blanks == "max" else int(blanks)
    for _ in range(MAX_ATTEMPTS):
        order = rng.sample(range(N_CELLS), N_CELLS)
        puzzle = _remove(grid, order, target)
        if target is None or puzzle.count("0") == target:
            return puzzle
    raise ValueError(f"sudoku: found no puzzle with {blanks} blanks and a unique solution for grid {grid} "
                     f"in {MAX_ATTEMPTS} removal orders")


@functools.cache
def puzzle_pool(blanks: int | str = DEFAULT_BLANKS, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """(puzzle, solution) for each of the 288 grids; each grid's removal order is drawn from its own
    generator seeded with (seed, grid), so a puzzle does not depend on the others."""
    return tuple((make_puzzle(grid, blanks, random.Random(f"sudoku:{seed}:{grid}")), grid)
                 for grid in solution_grids())


def _blanks_option(value: object) -> int | str:
    if value == "max":
        return "max"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_BLANKS:
        return value
    raise ValueError(f"sudoku: option blanks must be 'max' or an integer 1..{MAX_BLANKS}, not {value!r}")


# --- prompts ----------------------------------------------------------------------------------------

def show(grid: str) -> str:
    """A grid or puzzle as App. G writes it: four rows of two digit pairs, e.g. '03 21'."""
    return "\n".join(f"{grid[r * 4:r * 4 + 2]} {grid[r * 4 + 2:r * 4 + 4]}" for r in range(SIZE))


def question(puzzle: str) -> str:
    return ("Solve this 4x4 Sudoku puzzle. Each row, each column and each 2x2 quadrant must contain the "
            "digits 1 to 4 with no repetition, and every given digit stays where it is; 0 marks an empty "
            "cell. Give the solved grid in the same format as the puzzle: four rows, each two pairs of "
            f"digits.\n\nPuzzle:\n{show(puzzle)}")


# --- answer extraction ------------------------------------------------------------------------------

#: leading markup and an optional label such as 'Row 1:', 'Solution:' or 'Answer ='
_LABEL = re.compile(r"^[\s#>*`-]*(?:[A-Za-z][A-Za-z ]*?\s*\d*\s*[:=])?")
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s+")
_SEPARATORS = frozenset(" \t,;:|[](){}.+-*`'\"/_=")


def _line_digits(line: str) -> str | None:
    """The digits of a line that is only digits and separators (after an optional label or list
    marker); '' for a line of separators alone; None for a line of text."""
    if not any(ch.isdigit() for ch in line):
        return "" if all(ch in _SEPARATORS or ch.isspace() for ch in line) else None
    rest = _LABEL.sub("", line, count=1)
    if not all(ch.isdigit() or ch in _SEPARATORS or ch.isspace() for ch in rest):
        return None
    digits = "".join(ch for ch in rest if ch.isdigit())
    if len(digits) not in (SIZE, N_CELLS):  # perhaps a numbered list: '1. 4 3 2 1'
        unlisted = "".join(ch for ch in _LIST_MARKER.sub("", rest, count=1) if ch.isdigit())
        digits = unlisted if len(unlisted) in (SIZE, N_CELLS) else digits
    return digits


def _complete(digits: str) -> bool:
    return all(ch in "1234" for ch in digits)


def extract_grid(text: str) -> str | None:
    """The last complete 4x4 grid written in `text`, as 16 digits, or None.

    A grid is four row lines of four digits 1-4 each ('4 3 2 1', '43 21', '4321', '[4, 3, 2, 1]',
    '| 4 | 3 | 2 | 1 |', 'Row 1: 4 3 2 1'), consecutive but for blank or separator-only lines, or one
    line of 16 such digits. A row with an empty or out-of-range cell (0, _, 5-9) or a line of text ends
    a run of rows; of a longer run, the last four rows count."""
    found, run = None, []
    for line in text.splitlines():
        digits = _line_digits(line)
        if digits == "":
            continue
        if digits is not None and len(digits) == SIZE and _complete(digits):
            run.append(digits)
            if len(run) >= SIZE:
                found = "".join(run[-SIZE:])
            continue
        run = []
        if digits is not None and len(digits) == N_CELLS and _complete(digits):
            found = digits
    return found


def grade_grid(puzzle: str, pred: str | None) -> bool:
    """Whether an extracted grid solves the puzzle, by the checker."""
    return pred is not None and check(puzzle, pred)


# --- the task ---------------------------------------------------------------------------------------

EXAMPLE_PUZZLE = "0321003004002100"  # App. G's generation example
EXAMPLE_ANSWER = (
    "Row 1 misses only 4, so it is 4 3 2 1. In row 2, column 1 already has 4 and 2 and the row has 3, so "
    "the first cell is 1; quadrant 1 then misses 2, and the row's last cell is 4. In row 3, column 1 "
    "misses 3; the row then needs 1 and 2, and column 3 already has 2, so it is 3 4 1 2. Row 4 needs 3 "
    "and 4; column 4 already has 4, so it ends 4 3.\n\nSolution:\n" + show("4321123434122143"))


def _shot_response(grid: str) -> str:
    return ("Filling each empty cell with the digit its row, column and quadrant still miss gives:"
            f"\n\nSolution:\n{show(grid)}")


class Sudoku(Task):
    """4x4 Sudoku (MTG §4.4). Options: `blanks` (empty cells, default 9, or 'max'), `puzzle_seed` (the
    seed of the removal orders; default: the split seed), `shots` (how many solver shots to show)."""

    solver_shots = ((question(EXAMPLE_PUZZLE), EXAMPLE_ANSWER),)
    verifier_templates = templates.SUDOKU
    # Right and wrong alternate (see arithmetic.py); the wrong grids repeat digits in columns 3 and 4,
    # and change a given (row 4, column 4) while staying a valid grid.
    verifier_shots = (
        VerifierShot(question("1240302000000104"), _shot_response("1243342143122134"), 1.0),
        VerifierShot(question("3100020000402031"), _shot_response("3124423113422431"), 0.0),
        VerifierShot(question("2004002040100043"), _shot_response("2134342143121243"), 1.0),
        VerifierShot(question("0200004013202003"), _shot_response("4213314213242431"), 0.0),
    )

    def __init__(self, options: dict | None = None):
        super().__init__(options)
        self.blanks = _blanks_option(self.options.get("blanks", DEFAULT_BLANKS))
        if "shots" in self.options:
            shots = self.options["shots"]
            if not isinstance(shots, int) or isinstance(shots, bool) or not 0 <= shots <= len(self.solver_shots):
                raise ValueError(f"sudoku: option shots must be an integer 0..{len(self.solver_shots)}, "
                                 f"not {shots!r}")
            self.solver_shots = self.solver_shots[:shots]

    def items(self, n_train: int, n_test: int, seed: int) -> dict[str, list[Item]]:
        if n_train < 0 or n_test < 0:
            raise ValueError(f"sudoku: split sizes must not be negative, not {n_train} and {n_test}")
        if n_train + n_test > N_GRIDS:
            raise ValueError(f"sudoku: {n_train} + {n_test} puzzles asked, but there are only {N_GRIDS} "
                             "(one per valid 4x4 grid)")
        pool = list(puzzle_pool(self.blanks, int(self.options.get("puzzle_seed", seed))))
        random.Random(seed).shuffle(pool)
        made = [Item(prompt_id=puzzle, question=question(puzzle), answer=solution,
                     meta={"puzzle": puzzle, "blanks": puzzle.count("0")})
                for puzzle, solution in pool[: n_train + n_test]]
        return {"train": made[:n_train], "test": made[n_train:]}

    def reference(self, item: Item) -> str:
        return _shot_response(item.answer)

    def extract(self, response: str) -> str | None:
        return extract_grid(response)

    def is_correct(self, pred: str | None, gold: str) -> bool:
        """Equality with the gold solution. Every puzzle has exactly one solution, so a grid passes the
        checker against the puzzle (`grade_grid`) if and only if it equals the gold answer; grading
        only gets (pred, gold), so equality is the checker's verdict without the puzzle."""
        return pred is not None and pred == gold
