"""float32 linear layers through oneDNN on a CPU, for inference.

torch's CPU `nn.Linear` in float32 calls oneMKL's sgemm; bf16 already goes through oneDNN. On dev-EPYC-512
(an AMD EPYC with AVX-512, 2 threads; docs/performance.md, 2026-12-07) oneDNN's float32 kernels ran the
model's GEMM shapes faster than oneMKL's: 1.11-1.16 x on the projections of a verifier prefill or a decode
step, 1.51 x on the lm head (49152 outputs); with both libraries capped at AVX2, 0.99-1.15 x and 1.41 x.
In the model jobs that made generation 1.10 x and verification 1.09 x faster in float32. Other CPUs (Intel's
in particular, where oneMKL's sgemm is tuned the most) were not measured.

`use_onednn_linears` makes a model's float32 `nn.Linear` layers `OneDNNLinear`s: the same weights (no
reordered copy, so no memory is added), the same products, summed in oneDNN's order instead of oneMKL's
(results agree to float32 rounding; a sampled token can change where a draw falls within that rounding of
a boundary). A call that needs a gradient (the input's, the weight's or the bias's) goes through
`torch.nn.functional.linear` as before, so a routed model still trains correctly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def available() -> bool:
    """Whether this torch build has oneDNN, enabled, and its linear op."""
    return (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def needs_grad(x: torch.Tensor, layer: torch.nn.Linear) -> bool:
    """Whether autograd must see this call of `layer` on `x`."""
    return torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad
                                        or (layer.bias is not None and layer.bias.requires_grad))


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)` through oneDNN (no autograd)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDNNLinear(torch.nn.Linear):
    """`nn.Linear` whose float32 CPU calls that need no gradient run through oneDNN's linear."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type != "cpu" or x.dtype != torch.float32 or self.weight.dtype != torch.float32
                or needs_grad(x, self)):
            return F.linear(x, self.weight, self.bias)
        return onednn_linear(x, self.weight, self.bias)


def use_onednn_linears(model: torch.nn.Module) -> int:
    """Make the float32 CPU `nn.Linear` layers of `model` `OneDNNLinear`s (their class only: weights, hooks
    and state stay); how many. Subclasses of `nn.Linear` (other libraries' layers) are left as they are."""
    if not available():
        return 0
    routed = 0
    for module in model.modules():
        if (type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
                and module.weight.dtype == torch.float32):
            module.__class__ = OneDNNLinear
            routed += 1
    return routed
