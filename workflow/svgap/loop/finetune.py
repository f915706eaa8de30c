"""LoRA SFT on the Best-of-N picks: the self-improvement step of SVG Algorithm 1.

The loss is the paper's L_t(f) = U_v(t): the NLL of each pick given its prompt (prompt tokens
masked), summed over the response's tokens and averaged over the picks of a mini-batch
(`loss: sequence`). `loss: token` averages over tokens instead, as most SFT code does.

One adapter runs through the whole run: epoch t+1 starts from the adapter (and the AdamW state) of
epoch t, as if the T epochs were one training run with a checkpoint per epoch (SVG App. D.2 trains
10 epochs and checkpoints along the way). The alternative, merging each epoch's adapter into the
weights and starting a fresh one, would store a full model per epoch and let the update's rank grow
with t; a continued adapter keeps the total update at rank r, stores a few MB per epoch, and serves
each epoch's model as base + adapter (e.g. through vLLM's LoRARequest). For inference the adapter
is merged into a copy of the base weights in memory.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from svgap.inference.nll import response_nll

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSpec:
    lr: float
    weight_decay: float
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    target_modules: str | list[str]
    batch_size: int
    micro_batch_size: int
    passes: int
    loss: str
    max_grad_norm: float

    @classmethod
    def from_config(cls, cfg: dict) -> FinetuneSpec:
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__})


class MaskDropout(torch.nn.Dropout):
    """Inverted dropout with its mask from one uniform per element: an element is kept when its uniform is
    at least p, and scaled by 1 / (1 - p), the distribution of `nn.Dropout`.

    On a CPU `nn.Dropout` draws its Bernoulli mask one element at a time: profiled, LoRA dropout (p = 0.5 on
    the input of every LoRA layer, Table 3) was 37% of a finetune step; `torch.rand_like` fills the same
    tensor about 4 x faster (docs/performance.md). The draws come from torch's generator, seeded by the
    finetune's seed, so a finetune stays deterministic. Its masks are not those `nn.Dropout` would draw.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        scale = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1 / (1 - self.p))
        return x * scale


def use_mask_dropout(model: torch.nn.Module) -> int:
    """Swap every LoRA layer's `nn.Dropout` for a `MaskDropout` of the same p; how many were swapped."""
    swapped = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if isinstance(dropouts, torch.nn.ModuleDict):
            for name, layer in dropouts.items():
                if type(layer) is torch.nn.Dropout:
                    dropouts[name] = MaskDropout(layer.p)
                    swapped += 1
    return swapped


def _peft_model(base, spec: FinetuneSpec, previous: Path | None):
    from peft import LoraConfig, PeftModel, get_peft_model

    if previous is not None:
        model = PeftModel.from_pretrained(base, previous, is_trainable=True)
    else:
        config = LoraConfig(r=spec.lora_rank, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout,
                            target_modules=spec.target_modules, task_type="CAUSAL_LM")
        model = get_peft_model(base, config)
    use_mask_dropout(model)
    return model


def save(model, optimizer, steps: list[dict], out_dir: Path) -> pl.DataFrame:
    """The adapter, its optimiser state and the training log so far, written aside then renamed."""
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    history = pl.DataFrame(steps, schema={"pass": pl.Int64, "step": pl.Int64, "loss": pl.Float64,
                                          "n_sequences": pl.Int64, "n_tokens": pl.Int64})
    history.write_parquet(tmp / "train_log.parquet")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return history


def train(base, picks: pl.DataFrame, spec: FinetuneSpec, previous: Path | None, out_dir: Path,
          seed: int, pad_id: int, half_dir: Path | None = None) -> pl.DataFrame:
    """Train the adapter on `picks` (columns prompt_token_ids, token_ids) and save it to `out_dir`.

    With `half_dir`, the adapter is also saved there after the first optimiser step at which half of
    the epoch's picks (over all passes) have been processed: SVG's half-epoch checkpoint. The epoch
    then goes on unchanged, so `out_dir` is the same with or without it. The half-epoch adapter waits
    under a `.partial` name until the epoch ends, so a killed job leaves no output under a final name.
    Returns the training log: one row per optimiser step (step, loss, n_sequences, n_tokens).
    """
    if spec.loss not in ("sequence", "token"):
        raise ValueError(f"finetune.loss must be 'sequence' or 'token', got {spec.loss!r}")
    torch.manual_seed(seed)
    model = _peft_model(base, spec, previous)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if previous is not None and (previous / "optimizer.pt").is_file():
        optimizer.load_state_dict(torch.load(previous / "optimizer.pt", weights_only=True))
    model.train()
    prompts, responses = picks["prompt_token_ids"].to_list(), picks["token_ids"].to_list()
    rng = np.random.default_rng(seed)
    steps = []
    seen, half_saved = 0, False
    staged = half_dir.with_name(half_dir.name + ".partial") if half_dir is not None else None
    for p in range(spec.passes):
        order = rng.permutation(len(prompts))
        for start in range(0, len(order), spec.batch_size):
            batch = order[start:start + spec.batch_size]
            n_tokens = sum(len(responses[i]) for i in batch)
            denom = len(batch) if spec.loss == "sequence" else n_tokens
            total = 0.0
            for m in range(0, len(batch), spec.micro_batch_size):
                micro = batch[m:m + spec.micro_batch_size]
                nll = response_nll(model, [prompts[i] for i in micro], [responses[i] for i in micro], pad_id, device)
                loss = nll.sum() / denom
                loss.backward()
                total += loss.item()
            if spec.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps.append({"pass": p, "step": len(steps), "loss": total, "n_sequences": len(batch),
                          "n_tokens": n_tokens})
            log.info("pass %d step %d: loss %.4f over %d picks (%d tokens)", p, len(steps) - 1, total, len(batch),
                     n_tokens)
            if not math.isfinite(total):
                raise FloatingPointError(f"finetune loss became {total} at step {len(steps) - 1}")
            seen += len(batch)
            if half_dir is not None and not half_saved and 2 * seen >= spec.passes * len(prompts):
                save(model, optimizer, steps, staged)
                half_saved = True
                log.info("half-epoch checkpoint after %d of %d picks -> %s", seen, spec.passes * len(prompts),
                         half_dir)
    if not steps:
        log.warning("no picks to train on: the adapter is saved unchanged")
    if half_dir is not None:
        if not half_saved:
            save(model, optimizer, steps, staged)
        shutil.rmtree(half_dir, ignore_errors=True)
        os.replace(staged, half_dir)
    return save(model, optimizer, steps, out_dir)
