"""float32 linear layers through oneDNN on a CPU, for inference.

torch's CPU `nn.Linear` in float32 calls oneMKL's sgemm; bf16 already goes through oneDNN. On the AMD EPYC
machines this project is developed on, oneDNN's float32 kernels ran the model's GEMM shapes faster than
oneMKL's in the same process (2 threads; docs/performance.md): 1.15-1.25 x on the projections of a
verifier prefill or a decode step, 1.6-1.9 x on the lm head (49152 outputs). `use_onednn_linears` sends
a model's float32 linear layers there: the same weights (no reordered copy, so no memory is added), the
same products, summed in oneDNN's order instead of oneMKL's (results agree to float32 rounding, about 1e-6
relative; runs stay deterministic on a machine). Only where no gradient is asked for: a call that needs
one (finetuning) goes through `torch.nn.functional.linear` as before.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def available() -> bool:
    """Whether this torch build has oneDNN and its linear op."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`nn.Linear.forward` through oneDNN for a float32 CPU input that needs no gradient, else torch's own."""
    if (x.device.type != "cpu" or x.dtype != torch.float32 or self.weight.dtype != torch.float32
            or (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))):
        return F.linear(x, self.weight, self.bias)
    return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


def use_onednn_linears(model: torch.nn.Module) -> int:
    """Route the float32 CPU `nn.Linear` layers of `model` through `onednn_forward`; how many were.

    Hooks on the layers still run (the forward is replaced on each instance, below `__call__`)."""
    if not available():
        return 0
    routed = 0
    for module in model.modules():
        if (type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
                and module.weight.dtype == torch.float32):
            module.forward = types.MethodType(onednn_forward, module)
            routed += 1
    return routed
