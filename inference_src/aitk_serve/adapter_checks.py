"""Checks that a LoRA adapter fits the base model, done before PEFT touches it.

PEFT itself loads a same-shaped adapter onto the wrong base silently and reports other mismatches as
long tracebacks; every check here fails with one line naming the file and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .errors import AdapterCheckError

CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
_LORA_KEY = re.compile(
    r"^base_model\.model\.(?P<module>.+)\.lora_(?P<kind>A|B|embedding_A|embedding_B)(\.[^.]+)?(\.weight)?$"
)


def read_adapter_config(adapter_dir: Path) -> dict:
    path = adapter_dir / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterCheckError(
            f"adapter: {path} not found: is fine-tuning finished? Set AITK_ADAPTER_PATH to the adapter folder"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterCheckError(f"adapter: {path} is not readable JSON ({exc})") from None
    if not isinstance(config, dict) or str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterCheckError(f"adapter: {path} does not describe a LoRA adapter (peft_type must be LORA)")
    return config


def read_weight_shapes(adapter_dir: Path) -> dict[str, tuple[int, ...]]:
    """Shapes of the adapter's tensors, read from the file header (no weights loaded for safetensors)."""
    for name in WEIGHT_FILES:
        path = adapter_dir / name
        if path.is_file():
            break
    else:
        raise AdapterCheckError(
            f"adapter: no {' or '.join(WEIGHT_FILES)} in {adapter_dir}: copy the whole adapter folder"
        )
    try:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {key: tuple(value.shape) for key, value in state.items()}
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AdapterCheckError(f"adapter: {path} is corrupt or truncated ({first_line}): copy it again") from None


def _name_tail(name: str, parts: int) -> tuple[str, ...]:
    return tuple(p.lower() for p in Path(name.rstrip("/")).parts[-parts:])


def check_base_name(adapter_config: dict, base_path: Path) -> str | None:
    """Fail when the adapter names another base; return a warning when it names none."""
    wanted = str(adapter_config.get("base_model_name_or_path") or "").strip()
    if not wanted:
        return f"adapter_config.json names no base model; using {base_path} (shapes are still checked)"
    # Hub ids (org/name) and share paths (.../model-cache/org/name) compare by their last components.
    parts = min(2, len(Path(wanted).parts))
    if _name_tail(wanted, parts) != _name_tail(str(base_path.resolve()), parts):
        raise AdapterCheckError(
            f"adapter: trained on base '{wanted}' but the base model is {base_path}: "
            "set AITK_BASE_MODEL_PATH to that base model's folder"
        )
    return None


def _expected_rank(adapter_config: dict, module: str) -> int:
    for pattern, rank in (adapter_config.get("rank_pattern") or {}).items():
        if re.fullmatch(rf"(.*\.)?{pattern}", module):
            return int(rank)
    return int(adapter_config.get("r", 0))


def _check_target_modules(adapter_config: dict, module_names: list[str]) -> None:
    targets = adapter_config.get("target_modules") or []
    if targets == "all-linear":
        return
    if isinstance(targets, str):
        if not any(re.fullmatch(targets, name) for name in module_names):
            raise AdapterCheckError(f"adapter: target_modules pattern '{targets}' matches no module of the base model")
        return
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in module_names)]
    if missing:
        raise AdapterCheckError(
            f"adapter: target_modules {missing} do not exist in the base model: the adapter was trained "
            "for another architecture"
        )


def _module_dims(module: torch.nn.Module) -> tuple[int, int] | None:
    """(input size, output size) of a module LoRA can wrap."""
    if isinstance(module, torch.nn.Embedding):
        return module.num_embeddings, module.embedding_dim
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return module.in_features, module.out_features
    return None


def check_against_model(adapter_config: dict, shapes: dict[str, tuple[int, ...]], model: torch.nn.Module) -> None:
    """Target modules present, every LoRA tensor's shape matching its base module and the configured rank."""
    modules = dict(model.named_modules())
    _check_target_modules(adapter_config, list(modules))
    lora_keys = 0
    for key, shape in shapes.items():
        match = _LORA_KEY.match(key)
        if not match:
            continue
        lora_keys += 1
        module_name = match["module"]
        module = modules.get(module_name)
        if module is None:
            raise AdapterCheckError(
                f"adapter: weight {key} is for module '{module_name}', which the base model lacks: "
                "the adapter was trained for another base model"
            )
        dims = _module_dims(module)
        if dims is None or len(shape) != 2:
            raise AdapterCheckError(f"adapter: weight {key} targets '{module_name}', which LoRA cannot adapt")
        in_dim, out_dim = dims
        is_a = match["kind"] in ("A", "embedding_A")
        rank, width = (shape[0], shape[1]) if is_a else (shape[1], shape[0])
        if width != (in_dim if is_a else out_dim):
            raise AdapterCheckError(
                f"adapter: shape mismatch: {key} is {list(shape)} but base module '{module_name}' is "
                f"{in_dim} -> {out_dim}: the adapter was trained for another base model"
            )
        expected = _expected_rank(adapter_config, module_name)
        if rank != expected:
            raise AdapterCheckError(
                f"adapter: rank mismatch: {key} has rank {rank} but adapter_config.json says r={expected}"
            )
    if lora_keys == 0:
        raise AdapterCheckError("adapter: the weights file holds no LoRA tensors")
