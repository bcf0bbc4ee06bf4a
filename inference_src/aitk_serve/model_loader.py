"""Find, check and load the base model and its adapter; choose device and dtype; merge for speed."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from . import adapter_checks
from .config import Settings
from .errors import ModelLoadError

log = logging.getLogger("aitk_serve")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    base_path: Path
    adapter_path: Path | None
    merged: bool
    device: torch.device
    dtype: torch.dtype
    max_model_len: int
    eos_token_ids: frozenset[int]
    served_name: str
    base_name: str

    @property
    def base_only(self) -> bool:
        return self.adapter_path is None


def find_adapter(settings: Settings) -> Path | None:
    """The adapter folder to serve, or None in base-only mode."""
    if settings.base_only:
        return None
    if settings.adapter_path is not None:
        return settings.adapter_path
    models_dir = settings.share_root / "models"
    found = sorted(models_dir.rglob(adapter_checks.CONFIG_FILE), key=lambda p: p.stat().st_mtime, reverse=True)
    if not found:
        raise ModelLoadError(
            f"no {adapter_checks.CONFIG_FILE} under {models_dir}: finish fine-tuning, set AITK_ADAPTER_PATH, "
            "or set AITK_BASE_ONLY=true to serve the base model alone"
        )
    log.info("adapter: picked %s (newest of %d under %s)", found[0].parent, len(found), models_dir)
    return found[0].parent


def find_base(settings: Settings, adapter_config: dict | None) -> Path:
    if settings.base_model_path is not None:
        return settings.base_model_path
    cache = settings.share_root / "model-cache"
    wanted = str((adapter_config or {}).get("base_model_name_or_path") or "").strip()
    if wanted and (cache / wanted).is_dir():
        return cache / wanted
    candidates = sorted({p.parent for p in cache.rglob("config.json")}) if cache.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(str(c.relative_to(cache)) for c in candidates) or "none"
    raise ModelLoadError(
        f"cannot pick the base model under {cache} (adapter names '{wanted or '-'}'; "
        f"models found: {listed}): set AITK_BASE_MODEL_PATH"
    )


def choose_device_and_dtype(settings: Settings) -> tuple[torch.device, torch.dtype]:
    cuda = torch.cuda.is_available()
    if settings.device == "cuda" and not cuda:
        raise ModelLoadError("AITK_DEVICE=cuda but no CUDA device is visible: use AITK_DEVICE=auto or cpu")
    device = torch.device("cuda" if settings.device == "cuda" or (settings.device == "auto" and cuda) else "cpu")
    if settings.dtype != "auto":
        return device, getattr(torch, settings.dtype)
    if device.type == "cuda":
        # bf16 runs natively from Ampere (8.0, A100) on; is_bf16_supported() also says yes on a T4 (7.5),
        # where it is only emulated and slow: fp16 there.
        return device, torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16
    # CPU: fp32 keeps results exact and is fast everywhere; bf16 is an opt-in (AITK_DTYPE=bfloat16).
    return device, torch.float32


def _set_cpu_threads() -> None:
    # One process serves everything: use every core the container grants.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(cores)


def _context_length(model_config, settings: Settings) -> int:
    text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    native = getattr(text_config, "max_position_embeddings", None) or 2048
    return min(native, settings.max_model_len) if settings.max_model_len else native


def _eos_ids(model, tokenizer) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        ids.update(value if isinstance(value, list) else [value] if value is not None else [])
    return frozenset(ids)


def load(settings: Settings) -> LoadedModel:
    """Load base (+ checked adapter, merged unless disabled). Raises ModelLoadError with a one-line reason."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress bars garble the container log

    adapter_path = find_adapter(settings)
    adapter_config = shapes = None
    if adapter_path is not None:
        adapter_config = adapter_checks.read_adapter_config(adapter_path)
        shapes = adapter_checks.read_weight_shapes(adapter_path)
    base_path = find_base(settings, adapter_config)
    if not (base_path / "config.json").is_file():
        raise ModelLoadError(f"base model: no config.json in {base_path}: set AITK_BASE_MODEL_PATH to a model folder")
    if adapter_config is not None:
        warning = adapter_checks.check_base_name(adapter_config, base_path)
        if warning:
            log.warning("adapter: %s", warning)

    device, dtype = choose_device_and_dtype(settings)
    if device.type == "cpu":
        _set_cpu_threads()
    log.info("loading base model %s on %s as %s", base_path, device, str(dtype).removeprefix("torch."))
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"base model: cannot load {base_path}: {str(exc).splitlines()[0]}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"base model: the tokenizer in {base_path} has no chat template: use an instruct model")
    model.to(device).eval()

    merged = False
    if adapter_path is not None:
        adapter_checks.check_against_model(adapter_config, shapes, model)
        try:
            with warnings.catch_warnings():  # peft calls a deprecated transformers API: noise in our log
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing. is deprecated")
                model = PeftModel.from_pretrained(model, adapter_path).eval()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"adapter: PEFT cannot load {adapter_path}: {str(exc).splitlines()[0]}") from None
        if settings.merge_adapter:
            model = model.merge_and_unload()
            merged = True
        log.info("adapter: loaded %s (%s)", adapter_path, "merged into the base" if merged else "not merged")
    else:
        log.warning("BASE-ONLY mode: serving %s without any adapter (AITK_BASE_ONLY=true)", base_path)

    base_name = base_path.name
    served = settings.served_model_name or (adapter_path.name if adapter_path else base_name)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        base_path=base_path,
        adapter_path=adapter_path,
        merged=merged,
        device=device,
        dtype=dtype,
        max_model_len=_context_length(model.config, settings),
        eos_token_ids=_eos_ids(model, tokenizer),
        served_name=served,
        base_name=base_name,
    )
