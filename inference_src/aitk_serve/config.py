"""Settings from the environment variables set by the container template (all optional)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
CPU_LINEARS = ("onednn", "torch")


@dataclass(frozen=True)
class Settings:
    port: int = 7860
    share_root: Path = Path("/mount")
    base_model_path: Path | None = None
    adapter_path: Path | None = None
    base_only: bool = False
    merge_adapter: bool = True
    dtype: str = "auto"
    device: str = "auto"
    cpu_linear: str = "onednn"
    max_batch_size: int = 8
    max_queue: int = 64
    max_new_tokens: int = 1024
    max_model_len: int | None = None
    api_key: str | None = field(default=None, repr=False)
    served_model_name: str | None = None
    code_version: str | None = None  # set by the share bootstrap: which deployed version runs


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use true or false")


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int, maximum: int | None = None):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{name}={value} is out of range: use a value {bound}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not supported: use one of {', '.join(choices)}")
    return raw


def _path(env: Mapping[str, str], name: str, share_root: Path) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    # Relative paths are relative to the share, so the same value works locally and in the container.
    return share_root / raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise ConfigError with a one-line message naming the variable."""
    env = os.environ if env is None else env
    share_root = Path(env.get("AITK_SHARE_ROOT", "").strip() or "/mount")
    return Settings(
        port=_int(env, "PORT", 7860, 1, 65535),
        share_root=share_root,
        base_model_path=_path(env, "AITK_BASE_MODEL_PATH", share_root),
        adapter_path=_path(env, "AITK_ADAPTER_PATH", share_root),
        base_only=_bool(env, "AITK_BASE_ONLY", False),
        merge_adapter=_bool(env, "AITK_MERGE_ADAPTER", True),
        dtype=_choice(env, "AITK_DTYPE", DTYPES),
        device=_choice(env, "AITK_DEVICE", DEVICES),
        cpu_linear=_choice(env, "AITK_CPU_LINEAR", CPU_LINEARS),
        max_batch_size=_int(env, "AITK_MAX_BATCH_SIZE", 8, 1, 256),
        max_queue=_int(env, "AITK_MAX_QUEUE", 64, 0),
        max_new_tokens=_int(env, "AITK_MAX_NEW_TOKENS", 1024, 1),
        max_model_len=_int(env, "AITK_MAX_MODEL_LEN", None, 2),
        api_key=env.get("AITK_API_KEY", "").strip() or None,
        served_model_name=env.get("AITK_SERVED_MODEL_NAME", "").strip() or None,
        code_version=env.get("AITK_VERSION", "").strip() or None,
    )
