"""Bad adapters and model folders: one clear line each, and the server stays up but not ready."""

from __future__ import annotations

import logging
import shutil

import httpx
import pytest
from aitk_serve import model_loader
from aitk_serve.config import load_settings
from aitk_serve.errors import ModelLoadError
from fixtures_models import copy_adapter, edit_adapter_config


def _no_config(adapter):
    (adapter / "adapter_config.json").unlink()


def _config_not_json(adapter):
    (adapter / "adapter_config.json").write_text("{oops")


def _not_lora(adapter):
    edit_adapter_config(adapter, peft_type="PREFIX_TUNING")


def _no_weights(adapter):
    (adapter / "adapter_model.safetensors").unlink()


def _truncated_weights(adapter):
    path = adapter / "adapter_model.safetensors"
    path.write_bytes(path.read_bytes()[:200])


def _wrong_base_name(adapter):
    edit_adapter_config(adapter, base_model_name_or_path="other-org/other-model")


def _rank_mismatch(adapter):
    edit_adapter_config(adapter, r=4)


def _missing_target_modules(adapter):
    edit_adapter_config(adapter, target_modules=["qkv_proj", "q_proj"])


CASES = [
    # (name, how to break a good adapter, message fragment)
    ("no adapter_config.json", _no_config, "adapter_config.json not found: is fine-tuning finished?"),
    ("adapter_config.json not JSON", _config_not_json, "adapter_config.json is not readable JSON"),
    ("not a LoRA adapter", _not_lora, "does not describe a LoRA adapter (peft_type must be LORA)"),
    ("weights file missing", _no_weights, "no adapter_model.safetensors or adapter_model.bin in"),
    ("corrupt safetensors", _truncated_weights, "adapter_model.safetensors is corrupt or truncated"),
    ("trained on another base (name)", _wrong_base_name, "trained on base 'other-org/other-model' but the base"),
    (
        "rank mismatch",
        _rank_mismatch,
        "rank mismatch: base_model.model.model.layers.0.mlp.down_proj.lora_A.weight "
        "has rank 8 but adapter_config.json says r=4",
    ),
    ("target modules missing", _missing_target_modules, "target_modules ['qkv_proj'] do not exist in the base"),
]


@pytest.mark.parametrize(("name", "breaker", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_adapter_is_refused_with_one_clear_line(share, tmp_path, name, breaker, fragment):
    adapter = copy_adapter(share, tmp_path / "adapter")
    breaker(adapter)
    env = {"AITK_SHARE_ROOT": str(share), "AITK_ADAPTER_PATH": str(adapter)}
    with pytest.raises(ModelLoadError) as caught:
        model_loader.load(load_settings(env))
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_adapter_trained_on_a_base_of_another_shape_is_refused(share, other_base, tmp_path):
    adapter = shutil.copytree(other_base / "adapter", tmp_path / "adapter")
    edit_adapter_config(adapter, base_model_name_or_path="tiny-org/tiny-chat")  # name matches, shapes do not
    with pytest.raises(
        ModelLoadError,
        match=r"shape mismatch: .*down_proj\.lora_A\.weight is \[8, 192\] but base "
        r"module 'model\.layers\.0\.mlp\.down_proj' is 128 -> 64",
    ):
        model_loader.load(load_settings({"AITK_SHARE_ROOT": str(share), "AITK_ADAPTER_PATH": str(adapter)}))


def test_share_without_any_adapter_is_refused_unless_base_only(share, tmp_path):
    empty = tmp_path / "share"
    shutil.copytree(share / "model-cache", empty / "model-cache")
    with pytest.raises(ModelLoadError, match="no adapter_config.json under .*AITK_BASE_ONLY=true"):
        model_loader.load(load_settings({"AITK_SHARE_ROOT": str(empty)}))
    loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(empty), "AITK_BASE_ONLY": "true"}))
    assert loaded.base_only and loaded.adapter_path is None


def test_base_model_folder_without_config_is_refused(share, tmp_path):
    env = {"AITK_SHARE_ROOT": str(share), "AITK_BASE_MODEL_PATH": str(tmp_path)}
    with pytest.raises(ModelLoadError, match=f"base model: no config.json in {tmp_path}"):
        model_loader.load(load_settings(env))


def test_newest_adapter_on_the_share_is_picked_and_logged(share, tmp_path, caplog):
    root = tmp_path / "share"
    shutil.copytree(share, root)
    newer = copy_adapter(share, root / "models/qlora/qlora/gpu-cpu_model/adapter")
    (newer / "adapter_config.json").touch()
    with caplog.at_level(logging.INFO, logger="aitk_serve"):
        loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(root)}))
    assert loaded.adapter_path == newer
    assert f"adapter: picked {newer} (newest of 2 under {root / 'models'})" in caplog.text


def test_server_with_bad_adapter_is_alive_but_not_ready_and_says_why(share, tmp_path, start_server, caplog):
    adapter = copy_adapter(share, tmp_path / "adapter")
    _rank_mismatch(adapter)
    with caplog.at_level(logging.ERROR, logger="aitk_serve"):
        server = start_server({"AITK_SHARE_ROOT": str(share), "AITK_ADAPTER_PATH": str(adapter)}, ready=False)
        ready = server.wait_until_settled()
    assert httpx.get(server.url + "/health").status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert "rank mismatch" in ready.json()["reason"]
    chat = httpx.post(server.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "model_not_ready"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not ready:")]
    assert len(lines) == 1 and "rank mismatch" in lines[0]
