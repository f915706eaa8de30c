"""float32 linear layers through oneDNN (svgap.inference.linear)."""

import io

import pytest
import torch
import torch.nn.functional as F

from svgap.inference import linear

pytestmark = pytest.mark.skipif(not linear.available(), reason="this torch build has no oneDNN linear")


def layers() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 32, bias=False),
                               torch.nn.Linear(32, 16).to(torch.bfloat16))


def no_torch_linear(*args, **kwargs):
    raise AssertionError("torch's F.linear was called where oneDNN's should run")


def test_float32_cpu_layers_run_through_onednn_and_agree_with_torch(monkeypatch):
    model = layers()
    x = torch.randn(3, 5, 64)
    with torch.inference_mode():
        before = model[2](F.relu(model[0](x)))
    assert linear.use_onednn_linears(model) == 2  # the bf16 layer keeps torch's own class
    assert [type(m) for m in model] == [linear.OneDNNLinear, torch.nn.ReLU, linear.OneDNNLinear, torch.nn.Linear]
    seen = []
    model[2].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    monkeypatch.setattr(F, "linear", no_torch_linear)  # the weights require grad, as a loaded model's do
    with torch.inference_mode():
        after = model[2](F.relu(model[0](x)))
        strided = model[0](x.transpose(0, 1))  # a non-contiguous input
    monkeypatch.undo()
    assert seen == [torch.Size([3, 5, 96])]  # hooks still run
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(strided, F.linear(x.transpose(0, 1), model[0].weight, model[0].bias),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trainable", ["weight", "bias", "input"])
def test_a_call_that_needs_a_gradient_goes_through_torch(trainable):
    layer = layers()[0]
    linear.use_onednn_linears(layer)
    layer.weight.requires_grad_(trainable == "weight")
    layer.bias.requires_grad_(trainable == "bias")
    x = torch.randn(4, 64, requires_grad=trainable == "input")
    y = layer(x)
    assert torch.equal(y, F.linear(x, layer.weight, layer.bias))  # torch's own linear, bit for bit
    y.sum().backward()
    grad = {"weight": layer.weight.grad, "bias": layer.bias.grad, "input": x.grad}[trainable]
    assert grad is not None and grad.abs().sum() > 0


def test_a_routed_layer_saves_and_loads():
    model = layers()
    linear.use_onednn_linears(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert type(loaded[0]) is linear.OneDNNLinear
    x = torch.randn(2, 64)
    with torch.inference_mode():
        assert torch.equal(loaded[0](x), model[0](x))


def test_the_backend_runs_the_float32_models_linear_layers_through_onednn(backend):
    model = backend.model
    routed = [name for name, m in model.named_modules() if type(m) is linear.OneDNNLinear]
    plain = [name for name, m in model.named_modules() if type(m) is torch.nn.Linear]
    assert not plain and "lm_head" in routed and "model.layers.0.self_attn.q_proj" in routed
