"""Cross-improvement in the loop (SVG §5): a budget of external responses given Early, Uniform or Late.

A budget of M external responses, one per chosen train prompt (from a stronger model, a file the user
brings, or the task's reference solution). At epoch t (1..T) a share eta_t of the M prompts is chosen,
sum_t eta_t = 1; "as long as one prompt is chosen to use external data, it will always use the external
data" (§5.1). The finetune of epoch t trains on the picks of checkpoint t - 1, so a prompt chosen at
epoch t is external in the picks of every checkpoint c with floor(c) + 1 >= t: its external response
replaces the Best-of-N pick as the training target, and U_v(c) is measured on the mixed picks (the
paper's U_v^c of Eq. 12, with the self-verifier's own picks kept beside it as U_v_bon).

Which prompts are chosen when: one seeded permutation of the train prompts per (task, seed), the
first M of it chosen, in permutation order, n_1 at epoch 1, n_2 at epoch 2, ... So every schedule of a
seed chooses the same M prompts and only their timing differs, and the chosen-prompts table of a seed
is the same on every machine.

Schedules: `early` (eta_1 = 1), `uniform` (eta_t = 1/T), `late` (eta_L = 1 at the late epoch, the
paper's eighth, clipped to T with a warning) or an explicit list of eta_t (config `cross.eta`). Counts
n_t are eta_t M rounded by largest remainder, so that sum_t n_t = M for every schedule.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import polars as pl

from svgap.seeds import stable_seed

log = logging.getLogger(__name__)

NAMED = ("early", "uniform", "late")
SOURCES = ("reference", "file", "model")
CHOSEN_SCHEMA = {"prompt_id": pl.String, "epoch": pl.Int64}


def etas(schedule: str, T: int, late_epoch: int, custom: dict[str, list[float]] | None = None) -> np.ndarray:
    """eta_1..eta_T of a schedule: a named one or a list under `custom` (config cross.eta)."""
    custom = custom or {}
    if schedule in custom:
        values = np.asarray(custom[schedule], dtype=float)
        if len(values) != T:
            raise ValueError(f"config cross.eta.{schedule}: {len(values)} shares for {T} epochs (loop.epochs)")
        if (values < 0).any() or not math.isclose(values.sum(), 1.0, abs_tol=1e-9):
            raise ValueError(f"config cross.eta.{schedule}: shares must be >= 0 and sum to 1, got {values.tolist()}")
        return values
    out = np.zeros(T)
    if schedule == "early":
        out[0] = 1.0
    elif schedule == "uniform":
        out[:] = 1.0 / T
    elif schedule == "late":
        out[late_epoch_within(late_epoch, T) - 1] = 1.0
    else:
        raise ValueError(f"unknown schedule {schedule!r}: one of {NAMED} or a name under cross.eta "
                         f"({sorted(custom)})")
    return out


def late_epoch_within(late_epoch: int, T: int) -> int:
    """The Late schedule's epoch clipped to 1..T (the paper's eighth needs T >= 8)."""
    if late_epoch > T:
        log.warning("cross.late_epoch %d is past loop.epochs %d: Late uses epoch %d", late_epoch, T, T)
        return T
    return late_epoch


def budget(spec: dict, n_train: int) -> int:
    """M from config cross.budget: {count: M} or {share: fraction of the train prompts}."""
    if "count" in spec:
        M = int(spec["count"])
    else:
        M = int(round(float(spec["share"]) * n_train))
    if not 0 <= M <= n_train:
        raise ValueError(f"config cross.budget: M = {M} external responses, but the task has {n_train} train prompts")
    return M


def counts(eta: np.ndarray, M: int) -> list[int]:
    """n_t = eta_t M as integers summing to M (largest remainder; ties to the earlier epoch)."""
    exact = np.asarray(eta, dtype=float) * M
    n = np.floor(exact + 1e-9).astype(int)
    order = sorted(range(len(n)), key=lambda t: (-(exact[t] - n[t]), t))
    for t in order[: M - int(n.sum())]:
        n[t] += 1
    return [int(x) for x in n]


def first_epoch(n: list[int]) -> int | None:
    """The first epoch (1-based) at which external data enter; None when none do (the baseline)."""
    return next((t + 1 for t, x in enumerate(n) if x > 0), None)


def chosen_prompts(train_ids: list[str], n: list[int], *, task: str, seed: int) -> pl.DataFrame:
    """The chosen-prompts table: (prompt_id, epoch chosen), sum(n) rows, epochs 1..T."""
    M = sum(n)
    if M > len(train_ids):
        raise ValueError(f"{M} external responses asked for, but only {len(train_ids)} train prompts can take one")
    rng = np.random.default_rng(stable_seed(seed, "cross", task))
    order = [train_ids[i] for i in rng.permutation(len(train_ids))][:M]
    epochs = [t + 1 for t, x in enumerate(n) for _ in range(x)]
    return pl.DataFrame({"prompt_id": order, "epoch": epochs}, schema=CHOSEN_SCHEMA)


def external_at(chosen: pl.DataFrame, t: float) -> list[str]:
    """The prompts external in the picks of checkpoint t: chosen at an epoch <= floor(t) + 1."""
    return chosen.filter(pl.col("epoch") <= math.floor(t) + 1)["prompt_id"].to_list()


def substitute(picks: pl.DataFrame, external: pl.DataFrame, prompt_ids: list[str]) -> pl.DataFrame:
    """The train split's picks with the external response as the target of `prompt_ids`.

    `picks` is `svgap.loop.bon.picks` of the split, `external` the scored external responses
    (prompt_id, prompt_token_ids, token_ids, length, nll, correct). A substituted row keeps `sample`
    and `n_candidates` (what the self-verifier picked, for U_v_bon), takes the external target's
    nll, length, correct and tokens, and has no verifier score; `source` says which rows.
    """
    missing = sorted(set(prompt_ids) - set(external["prompt_id"].to_list()))
    if missing:
        raise ValueError(f"no scored external response for chosen prompt(s) {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}")
    unknown = sorted(set(prompt_ids) - set(picks["prompt_id"].to_list()))
    if unknown:
        raise ValueError(f"chosen prompt(s) {unknown[:5]} are not train prompts of the picks")
    is_ext = pl.col("prompt_id").is_in(pl.Series(prompt_ids, dtype=pl.String).implode())
    target = ["nll", "length", "correct", "prompt_token_ids", "token_ids"]
    ext = external.select("prompt_id", *[pl.col(c).alias(f"{c}_ext") for c in target])
    out = picks.join(ext, on="prompt_id", how="left").with_columns(
        *[pl.when(is_ext).then(pl.col(f"{c}_ext")).otherwise(pl.col(c)).alias(c) for c in target],
        score=pl.when(is_ext).then(None).otherwise(pl.col("score")),
        source=pl.when(is_ext).then(pl.lit("external")).otherwise(pl.lit("bon")),
    )
    log.info("%d of %d train picks external", len(prompt_ids), picks.height)
    return out.select(picks.columns)

