"""float32 linear layers through oneDNN (svgap.inference.linear)."""

import pytest
import torch
import torch.nn.functional as F

from svgap.inference import linear

pytestmark = pytest.mark.skipif(not linear.available(), reason="this torch build has no oneDNN linear")


def layers() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 32, bias=False),
                               torch.nn.Linear(32, 16).to(torch.bfloat16))


def test_float32_cpu_layers_are_routed_and_agree_with_torch():
    model = layers()
    x = torch.randn(3, 5, 64)
    with torch.inference_mode():
        before = model[2](F.relu(model[0](x)))
    assert linear.use_onednn_linears(model) == 2  # the bf16 layer keeps torch's own forward
    assert "forward" in model[0].__dict__ and "forward" in model[2].__dict__ and "forward" not in model[3].__dict__
    seen = []
    model[2].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    with torch.inference_mode():
        after = model[2](F.relu(model[0](x)))
        strided = model[0](x.transpose(0, 1))  # a non-contiguous input
    assert seen == [torch.Size([3, 5, 96])]  # hooks still run
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(strided, F.linear(x.transpose(0, 1), model[0].weight, model[0].bias),
                               rtol=1e-5, atol=1e-5)


def test_a_call_that_needs_a_gradient_goes_through_torch():
    model = layers()
    linear.use_onednn_linears(model)
    x = torch.randn(4, 64)
    y = model[0](x)  # grad enabled, the weight requires it: torch's own linear, bit for bit
    assert torch.equal(y, F.linear(x, model[0].weight, model[0].bias))
    y.sum().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0
