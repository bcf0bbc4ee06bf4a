"""Settings from the environment variables set by the container template (all optional)."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from .errors import ConfigError


def _lower(value):
    return value.lower() if isinstance(value, str) else value


Dtype = Annotated[Literal["auto", "float32", "bfloat16", "float16"], BeforeValidator(_lower)]
Device = Annotated[Literal["auto", "cpu", "cuda"], BeforeValidator(_lower)]


class Settings(BaseSettings):
    """Each field reads the environment variable named by its alias; empty means the default."""

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, str_strip_whitespace=True)

    port: int = Field(7860, ge=1, le=65535, alias="PORT")
    share_root: Path = Field(Path("/mount"), alias="AITK_SHARE_ROOT")
    base_model_path: Path | None = Field(None, alias="AITK_BASE_MODEL_PATH")
    adapter_path: Path | None = Field(None, alias="AITK_ADAPTER_PATH")
    base_only: bool = Field(False, alias="AITK_BASE_ONLY")
    merge_adapter: bool = Field(True, alias="AITK_MERGE_ADAPTER")
    dtype: Dtype = Field("auto", alias="AITK_DTYPE")
    device: Device = Field("auto", alias="AITK_DEVICE")
    max_batch_size: int = Field(8, ge=1, le=256, alias="AITK_MAX_BATCH_SIZE")
    max_queue: int = Field(64, ge=0, alias="AITK_MAX_QUEUE")
    max_new_tokens: int = Field(1024, ge=1, alias="AITK_MAX_NEW_TOKENS")
    max_model_len: int | None = Field(None, ge=2, alias="AITK_MAX_MODEL_LEN")
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=1024, alias="AITK_MAX_REQUEST_BYTES")
    api_key: str | None = Field(None, repr=False, alias="AITK_API_KEY")
    served_model_name: str | None = Field(None, alias="AITK_SERVED_MODEL_NAME")
    code_version: str | None = Field(None, alias="AITK_VERSION")  # set by the share bootstrap

    @field_validator("base_model_path", "adapter_path")
    @classmethod
    def _on_the_share(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Relative paths are relative to the share, so the same value works locally and in the container.
        return None if value is None else info.data.get("share_root", Path("/mount")) / value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings,)  # load_settings reads the environment it is given, not always os.environ


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ, or a test's dict)."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self):
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise ConfigError with a one-line message naming the variable."""
    try:
        return Settings(**_Environment(os.environ if env is None else env)())
    except ValidationError as exc:
        raise ConfigError(_one_line(exc.errors()[0])) from None


def _one_line(error: dict) -> str:
    name, value, kind = error["loc"][0], error["input"], error["type"]
    field = next(f for f in Settings.model_fields.values() if f.alias == name)
    if kind in ("int_parsing", "int_from_float"):
        return f"{name}={value!r} is not an integer"
    if kind in ("greater_than_equal", "less_than_equal"):
        low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        return f"{name}={value} is out of range: use a value {bound}"
    if kind == "bool_parsing":
        return f"{name}={value!r} is not a boolean: use true or false"
    if kind == "literal_error":
        choices = typing.get_args(field.annotation)
        return f"{name}={value!r} is not supported: use one of {', '.join(choices)}"
    return f"{name}={value!r}: {error['msg']}"
