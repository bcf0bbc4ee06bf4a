"""On CPU, run the model's linear layers through oneDNN with weights packed once at load time.

A decode step is bound by reading the weights. torch's default CPU path for nn.Linear (MKL GEMM)
reads them at about a third of the memory bandwidth for the few-row inputs of decoding (measured on
an AMD EPYC: 10 GB/s of 33); oneDNN's linear on pre-packed weights, the kernel torch.compile's CPU
freezing uses, reads them about twice as fast and returns the same numbers up to summation order.
"""

from __future__ import annotations

import torch
from torch import nn


class PackedLinear(nn.Module):
    """nn.Linear's forward with the weight held in oneDNN's packed layout (inference only)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # Plain attributes, not parameters: the packed tensor is opaque and must not reach state_dict.
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
        self.packed_bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.packed_bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.packed_bias is not None}"


def supported(dtype: torch.dtype) -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    return dtype == torch.float32 or (dtype == torch.bfloat16 and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pack_linears(model: nn.Module) -> int:
    """Replace the plain nn.Linear layers of `model` (on CPU) by PackedLinear, except those whose weight
    other code reads; the number replaced."""
    weights_read = _weights_read_by_peft(model)
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            # Not subclasses (quantized layers): their forward differs.
            if type(child) is nn.Linear and id(child) not in weights_read:
                setattr(parent, name, PackedLinear(child))
                replaced += 1
    return replaced


def _weights_read_by_peft(model: nn.Module) -> set[int]:
    """ids of the Linear layers whose weight an unmerged PEFT LoRA layer reads in its forward: the LoRA
    matrices (for their dtype) and, for variants such as DoRA, the base layer."""
    from peft.tuners.lora import LoraLayer

    read: set[int] = set()
    for module in model.modules():
        if isinstance(module, LoraLayer):
            read.update(id(m) for m in (*module.lora_A.modules(), *module.lora_B.modules()))
            if module.lora_variant:
                read.add(id(module.get_base_layer()))
    return read
