"""LoRA SFT on picks: the loss is U_v, it decreases, the adapter continues, and it is deterministic."""

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from svgap.inference import models
from svgap.inference.chat import render
from svgap.inference.hf_backend import HFBackend
from svgap.loop.finetune import FinetuneSpec, MaskDropout, _peft_model, train
from svgap.tasks import make_task

pytestmark = pytest.mark.slow


def spec(**changes):
    base = dict(lr=1e-3, weight_decay=0.01, lora_rank=4, lora_alpha=8, lora_dropout=0.5, target_modules="all-linear",
                batch_size=6, micro_batch_size=3, passes=1, loss="sequence", max_grad_norm=1.0)
    return FinetuneSpec(**{**base, **changes})


@pytest.fixture(scope="module")
def picks(backend, tokenizer):
    task = make_task("arithmetic")
    prompts = [render(tokenizer, task.solver_messages(f"What is {a} + {a + 1}?"), True) for a in range(1, 7)]
    done = backend.sample(prompts, 1, 12, 1.0, list(range(6)))
    return pl.DataFrame({"prompt_token_ids": prompts, "token_ids": [list(r[0].token_ids) for r in done]})


def base(model_dir):
    return models.load_model({"location": str(model_dir)}, torch.float32, torch.device("cpu"))


def adapter_weights(path):
    return load_file(str(path / "adapter_model.safetensors"))


def test_first_step_loss_is_the_verifier_uncertainty(model_dir, backend, picks, tmp_path):
    u_v = backend.nll(picks["prompt_token_ids"].to_list(), picks["token_ids"].to_list()).mean()
    history = train(base(model_dir), picks, spec(), None, tmp_path / "a", seed=0, pad_id=backend.pad_id)
    assert history["loss"][0] == pytest.approx(u_v, rel=1e-4)  # B = 0 at init: the LoRA branch adds nothing yet


def test_training_lowers_the_nll_of_the_picks_and_continues(model_dir, tokenizer, backend, picks, tmp_path):
    before = backend.nll(picks["prompt_token_ids"].to_list(), picks["token_ids"].to_list()).mean()
    # dropout off in both epochs (a continued adapter keeps the LoRA config it was saved with)
    train(base(model_dir), picks, spec(passes=3, lora_dropout=0.0), None, tmp_path / "e1", seed=0,
          pad_id=backend.pad_id)
    tuned = HFBackend(models.load_model({"location": str(model_dir)}, torch.float32, torch.device("cpu"),
                                        tmp_path / "e1"), tokenizer)
    after = tuned.nll(picks["prompt_token_ids"].to_list(), picks["token_ids"].to_list()).mean()
    assert after < before
    assert (tmp_path / "e1" / "optimizer.pt").is_file() and (tmp_path / "e1" / "train_log.parquet").is_file()
    # epoch 2 starts from epoch 1's adapter: with dropout off, its first loss is the tuned model's NLL
    history = train(base(model_dir), picks, spec(lora_dropout=0.0), tmp_path / "e1", tmp_path / "e2", seed=1,
                    pad_id=backend.pad_id)
    assert history["loss"][0] == pytest.approx(after, rel=1e-5)
    w1, w2 = adapter_weights(tmp_path / "e1"), adapter_weights(tmp_path / "e2")
    assert w1.keys() == w2.keys()
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)


def test_epochs_continue_the_adapter_and_the_optimiser_state_exactly(model_dir, backend, picks, tmp_path):
    """Dropout off and one full batch per pass: two epochs of one pass, the second starting from the
    first's adapter and AdamW state (optimizer.pt), end where one training of two passes ends. Starting
    the second epoch with a fresh optimiser instead ends measurably elsewhere, so the check can fail."""
    import shutil

    full = {"lora_dropout": 0.0, "batch_size": 6, "micro_batch_size": 6}
    both = train(base(model_dir), picks, spec(passes=2, **full), None, tmp_path / "both", seed=0, pad_id=backend.pad_id)
    train(base(model_dir), picks, spec(**full), None, tmp_path / "e1", seed=0, pad_id=backend.pad_id)
    second = train(base(model_dir), picks, spec(**full), tmp_path / "e1", tmp_path / "e2", seed=0,
                   pad_id=backend.pad_id)
    assert second["loss"][0] == pytest.approx(both["loss"][1], rel=1e-5)
    wb, w2 = adapter_weights(tmp_path / "both"), adapter_weights(tmp_path / "e2")
    assert wb.keys() == w2.keys()
    gap = max((w2[k] - wb[k]).abs().max().item() for k in wb)
    # measured 1.6e-6: float32 rounding of the batch summed in another order, which Adam's normalisation
    # of near-zero gradients enlarges; a fresh optimiser instead moves the weights by 1.7e-3
    assert gap < 2e-5, gap
    shutil.copytree(tmp_path / "e1", tmp_path / "e1_fresh")
    (tmp_path / "e1_fresh" / "optimizer.pt").unlink()
    train(base(model_dir), picks, spec(**full), tmp_path / "e1_fresh", tmp_path / "e2_fresh", seed=0,
          pad_id=backend.pad_id)
    fresh = adapter_weights(tmp_path / "e2_fresh")
    assert max((fresh[k] - wb[k]).abs().max().item() for k in wb) > 20 * 2e-5  # 1.7e-3 measured


def test_training_is_deterministic(model_dir, backend, picks, tmp_path):
    for name in ("a", "b"):
        train(base(model_dir), picks, spec(), None, tmp_path / name, seed=3, pad_id=backend.pad_id)
    wa, wb = adapter_weights(tmp_path / "a"), adapter_weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_token_loss_and_empty_picks(model_dir, backend, picks, tmp_path):
    n_tokens = sum(len(t) for t in picks["token_ids"])
    u_v = backend.nll(picks["prompt_token_ids"].to_list(), picks["token_ids"].to_list()).sum()
    history = train(base(model_dir), picks, spec(loss="token"), None, tmp_path / "t", seed=0, pad_id=backend.pad_id)
    assert history["loss"][0] == pytest.approx(u_v / n_tokens, rel=1e-4)
    empty = train(base(model_dir), picks.head(0), spec(), None, tmp_path / "none", seed=0, pad_id=backend.pad_id)
    assert empty.height == 0 and (tmp_path / "none" / "adapter_model.safetensors").is_file()
    assert history["loss"].is_finite().all()


def test_half_epoch_checkpoint_is_saved_halfway_and_leaves_the_epoch_unchanged(model_dir, backend, picks, tmp_path):
    """6 picks, batches of 2, 1 pass: the half-epoch adapter is the model after step 2 of 3."""
    plain = train(base(model_dir), picks, spec(batch_size=2, micro_batch_size=2), None, tmp_path / "plain", seed=5,
                  pad_id=backend.pad_id)
    full = train(base(model_dir), picks, spec(batch_size=2, micro_batch_size=2), None, tmp_path / "full", seed=5,
                 pad_id=backend.pad_id, half_dir=tmp_path / "half")
    assert plain.height == full.height == 3
    half_log = pl.read_parquet(tmp_path / "half" / "train_log.parquet")
    assert half_log["step"].to_list() == [0, 1]  # 4 of 6 picks seen: the first step at or past half
    wp, wf, wh = (adapter_weights(tmp_path / n) for n in ("plain", "full", "half"))
    assert all(torch.equal(wp[k], wf[k]) for k in wp)  # saving halfway changes nothing of the epoch
    assert any(not torch.equal(wh[k], wf[k]) for k in wh)
    (tmp_path / "none").mkdir()
    train(base(model_dir), picks.head(0), spec(), None, tmp_path / "none" / "a", seed=0, pad_id=backend.pad_id,
          half_dir=tmp_path / "none" / "h")
    assert (tmp_path / "none" / "h" / "adapter_model.safetensors").is_file()  # no picks: both saved unchanged


def test_mask_dropout_keeps_each_element_with_probability_1_minus_p_scaled_and_is_seeded():
    x = torch.ones(200_000, requires_grad=True)
    drop = MaskDropout(0.5)
    torch.manual_seed(0)
    y = drop(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert abs((y > 0).double().mean().item() - 0.5) < 0.005  # 4.5 standard errors
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # the gradient goes through the kept elements, scaled
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)  # the finetune's seed fixes the masks
    assert abs((MaskDropout(0.2)(x) > 0).double().mean().item() - 0.8) < 0.005
    drop.eval()
    assert drop(x) is x
    assert torch.equal(MaskDropout(1.0).train()(x), torch.zeros_like(x))


def lora_dropouts(model) -> list[torch.nn.Module]:
    return [d for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), torch.nn.ModuleDict)
            for d in m.lora_dropout.values()]


def test_every_lora_layer_drops_out_through_the_mask_dropout(model_dir, tmp_path):
    model = _peft_model(base(model_dir), spec(), None)
    dropouts = lora_dropouts(model)
    assert dropouts and all(type(d) is MaskDropout and d.p == 0.5 for d in dropouts)
    model.save_pretrained(tmp_path / "a")  # a continued adapter gets them too
    again = lora_dropouts(_peft_model(base(model_dir), spec(), tmp_path / "a"))
    assert again and all(type(d) is MaskDropout for d in again)
