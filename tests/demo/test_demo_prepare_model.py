import json

import pytest
import torch
from safetensors import safe_open
from tiny_llama import CHAT_TEMPLATE, write_gguf
from transformers import AutoModelForCausalLM, AutoTokenizer

from demo.errors import DemoAssetError, run_cli
from demo.prepare_model import REPO_ID, find_packaged_gguf, main, prepare_base_model

SAMPLE = "Ahoy, matey! The capital of France be Paris. Arr!"


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_model, tiny_tokenizer):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_gguf(tiny_model, tiny_tokenizer, path)
    return path


@pytest.fixture(scope="module")
def converted_fp32(tmp_path_factory, tiny_gguf):
    out = tmp_path_factory.mktemp("assets")
    return out, prepare_base_model(out, gguf=tiny_gguf, dtype="float32")


def _logits(model, tokenizer):
    with torch.no_grad():
        return model(tokenizer(SAMPLE, return_tensors="pt").input_ids).logits.float()


def test_converted_model_lands_in_the_ai_toolkit_model_cache_layout(converted_fp32):
    out, asset = converted_fp32
    assert asset.path == out / "model-cache" / REPO_ID
    names = {p.name for p in asset.path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((asset.path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"


def test_float32_conversion_reproduces_the_original_model_exactly(converted_fp32, tiny_model, tiny_tokenizer):
    _, asset = converted_fp32
    reloaded = AutoModelForCausalLM.from_pretrained(asset.path).eval()
    torch.testing.assert_close(_logits(reloaded, tiny_tokenizer), _logits(tiny_model, tiny_tokenizer))


def test_converted_tokenizer_keeps_the_chat_template_and_the_tokens(converted_fp32, tiny_tokenizer):
    _, asset = converted_fp32
    reloaded = AutoTokenizer.from_pretrained(asset.path)
    assert reloaded.chat_template == CHAT_TEMPLATE
    assert reloaded(SAMPLE).input_ids == tiny_tokenizer(SAMPLE).input_ids
    assert reloaded.eos_token == "<|im_end|>"


def test_bfloat16_conversion_stores_the_original_weights_rounded_to_bf16(tmp_path, tiny_gguf, tiny_model):
    asset = prepare_base_model(tmp_path, gguf=tiny_gguf, dtype="bfloat16")
    original = tiny_model.state_dict()
    with safe_open(asset.path / "model.safetensors", "pt") as weights:
        assert set(weights.keys()) <= set(original)
        for name in weights.keys():
            assert torch.equal(weights.get_tensor(name), original[name].to(torch.bfloat16)), name


def test_second_run_with_the_same_gguf_reuses_the_model_folder(converted_fp32, tiny_gguf):
    out, first = converted_fp32
    weights = first.path / "model.safetensors"
    written = weights.stat().st_mtime_ns
    again = prepare_base_model(out, gguf=tiny_gguf, dtype="float32")
    assert again.reused
    assert weights.stat().st_mtime_ns == written


def test_packaged_smollm2_gguf_is_found_without_importing_its_plugin():
    assert find_packaged_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_file_that_is_not_a_gguf_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(DemoAssetError, match=r"junk\.gguf: not a GGUF model transformers can load"):
        prepare_base_model(tmp_path / "out", gguf=junk)


def test_cli_with_a_missing_gguf_prints_one_line_and_exits_2(tmp_path, capsys):
    assert run_cli(main, ["--out", str(tmp_path), "--gguf", str(tmp_path / "absent.gguf")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'absent.gguf'}: GGUF file not found\n"
