"""oneDNN packed linear layers on CPU: same numbers as nn.Linear, applied only where they are safe."""

from __future__ import annotations

import asyncio

import pytest
import torch
from aitk_serve import cpu_linear, model_loader
from aitk_serve.config import load_settings
from test_engine import PROMPTS, answers_one_at_a_time, start_engine

DTYPES = [torch.float32] + ([torch.bfloat16] if cpu_linear.supported(torch.bfloat16) else [])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 48), (3, 7, 48), (5, 48)])
def test_packed_linear_computes_what_nn_linear_computes(dtype, bias, shape):
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 80, bias=bias).to(dtype)
    x = torch.randn(shape, dtype=dtype)
    with torch.inference_mode():
        expected = linear(x)
        packed = cpu_linear.PackedLinear(linear)(x)
    assert packed.shape == expected.shape and packed.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(packed, expected, rtol=tolerance, atol=tolerance)


def test_pack_linears_replaces_plain_linears_only():
    class Quantized(torch.nn.Linear):  # stands for a subclass with a forward of its own
        pass

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), Quantized(8, 8), torch.nn.Linear(8, 4))
    assert cpu_linear.pack_linears(model) == 2
    assert [type(m).__name__ for m in model] == ["PackedLinear", "ReLU", "Quantized", "PackedLinear"]
    assert not any(type(m) is torch.nn.Linear for m in model.modules())


@pytest.mark.parametrize(
    ("env", "kernels"),
    [
        ({}, "onednn"),  # merged adapter
        ({"AITK_BASE_ONLY": "true"}, "onednn"),
        ({"AITK_CPU_LINEAR": "torch"}, "torch"),
    ],
)
def test_which_kernels_serve(share, env, kernels):
    loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(share), **env}))
    assert loaded.linear_kernels == kernels
    layer_types = {type(m) for m in loaded.model.modules()}
    assert (cpu_linear.PackedLinear in layer_types) is (kernels == "onednn")
    assert (torch.nn.Linear in layer_types) is (kernels == "torch")


def test_unmerged_adapter_packs_the_base_layers_and_keeps_the_lora_matrices(share):
    from peft.tuners.lora import LoraLayer

    loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(share), "AITK_MERGE_ADAPTER": "false"}))
    assert (loaded.merged, loaded.linear_kernels) == (False, "onednn")
    lora_layers = [m for m in loaded.model.modules() if isinstance(m, LoraLayer)]
    assert lora_layers
    for layer in lora_layers:
        assert isinstance(layer.base_layer, cpu_linear.PackedLinear)
        assert all(type(m) is torch.nn.Linear for m in (*layer.lora_A.values(), *layer.lora_B.values()))


def test_a_lora_variant_keeps_its_base_layer_unpacked():
    """DoRA reads the base layer's weight in forward, so that layer must stay a plain nn.Linear."""
    from peft import LoraConfig, get_peft_model

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    model = get_peft_model(model, LoraConfig(r=2, target_modules=["0"], use_dora=True))
    cpu_linear.pack_linears(model)
    dora, plain = model.base_model.model[0], model.base_model.model[1]
    assert type(dora.base_layer) is torch.nn.Linear
    assert isinstance(plain, cpu_linear.PackedLinear)
    with torch.inference_mode():
        assert model(torch.randn(1, 8)).shape == (1, 8)


def test_onednn_and_torch_kernels_give_the_same_greedy_answers(share):
    outputs = {}
    for kernels in ("onednn", "torch"):
        engine = start_engine(share, AITK_CPU_LINEAR=kernels)
        try:
            assert engine.loaded.linear_kernels == kernels
            outputs[kernels] = asyncio.run(answers_one_at_a_time(engine))
        finally:
            engine.stop()
    assert outputs["onednn"] == outputs["torch"]
    assert len(outputs["onednn"]) == len(PROMPTS) and all(outputs["onednn"])
