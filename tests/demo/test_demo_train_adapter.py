import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from demo.errors import DemoAssetError, run_cli
from demo.train_adapter import (
    BASE_NAME,
    DEFAULT_DATASET,
    IGNORE_INDEX,
    STYLE_PREFIX,
    TrainSettings,
    encode_conversation,
    load_conversations,
    main,
    train_adapter,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Big steps on a tiny model so a few dozen steps show a clear drop in seconds; one thread,
# since two threads on a busy 2-core machine wait on each other.
TINY_SETTINGS = TrainSettings(steps=24, batch_size=4, learning_rate=2e-2, warmup_steps=2, threads=1)


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("assets")
    return out, train_adapter(tiny_base, out, settings=TINY_SETTINGS)


def test_style_dataset_is_system_user_assistant_chats_in_the_pirate_style(style_conversations):
    assert 40 <= len(style_conversations) <= 80
    for conversation in style_conversations:
        assert [m["role"] for m in conversation] == ["system", "user", "assistant"]
        assert conversation[-1]["content"].startswith(STYLE_PREFIX)


def test_labels_cover_exactly_the_assistant_answer_and_its_end_of_turn(tiny_tokenizer, style_conversations):
    conversation = style_conversations[0]
    encoded = encode_conversation(tiny_tokenizer, conversation, max_length=512)
    learned = [token for token in encoded["labels"] if token != IGNORE_INDEX]
    assert tiny_tokenizer.decode(learned) == conversation[-1]["content"] + "<|im_end|>\n"
    assert len(encoded["labels"]) == len(encoded["input_ids"])


def test_training_lowers_the_loss_and_writes_an_adapter_in_the_ai_toolkit_layout(trained):
    out, asset = trained
    assert asset.path == out / "models/qlora/qlora/gpu_model/adapter"
    assert not asset.reused
    losses = asset.summary["losses"]
    assert len(losses) == TINY_SETTINGS.steps
    assert sum(losses[-4:]) < 0.9 * sum(losses[:4])
    config = json.loads((asset.path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == BASE_NAME
    assert config["r"] == 8
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert (asset.path / "adapter_model.safetensors").is_file()


def test_saved_adapter_loads_with_peft_and_changes_the_base_output(trained, tiny_base):
    _, asset = trained
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 9, 14, 2]])
    with torch.no_grad():
        before = base(ids).logits
        adapted = PeftModel.from_pretrained(base, asset.path).merge_and_unload()
        after = adapted(ids).logits
    assert not torch.allclose(before, after)


def test_second_run_with_the_same_inputs_reuses_the_adapter(trained, tiny_base):
    out, first = trained
    weights = first.path / "adapter_model.safetensors"
    written = weights.stat().st_mtime_ns
    again = train_adapter(tiny_base, out, settings=TINY_SETTINGS)
    assert again.reused
    assert again.summary["losses"] == first.summary["losses"]
    assert weights.stat().st_mtime_ns == written


def test_training_is_deterministic_across_output_folders(trained, tiny_base, tmp_path):
    _, first = trained
    again = train_adapter(tiny_base, tmp_path, settings=TINY_SETTINGS)
    assert not again.reused
    assert again.summary["losses"] == first.summary["losses"]
    weights = "adapter_model.safetensors"
    assert (again.path / weights).read_bytes() == (first.path / weights).read_bytes()


def test_changed_settings_retrain_in_the_same_folder(tiny_base, tmp_path):
    short = TrainSettings(**{**TINY_SETTINGS.__dict__, "steps": 3})
    train_adapter(tiny_base, tmp_path, settings=short)
    longer = train_adapter(tiny_base, tmp_path, settings=TrainSettings(**{**short.__dict__, "steps": 4}))
    assert not longer.reused
    assert len(longer.summary["losses"]) == 4


def test_dataset_line_without_messages_is_a_one_line_error_naming_file_and_line(tmp_path):
    dataset = tmp_path / "bad.jsonl"
    good = DEFAULT_DATASET.read_text().splitlines()[0]
    dataset.write_text(f'{good}\n{{"prompt": "hi"}}\n')
    with pytest.raises(DemoAssetError, match=rf"{dataset}:2: expected a JSON object with a \"messages\" list"):
        load_conversations(dataset)


def test_dataset_whose_last_turn_is_not_the_assistant_is_rejected(tmp_path):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(DemoAssetError, match="last message must be the assistant"):
        load_conversations(dataset)


def test_cli_with_a_missing_base_model_prints_one_line_and_exits_2(tmp_path, capsys):
    assert run_cli(main, ["--base", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "python -m demo.prepare_model" in err
    assert "\n" not in err


def test_script_runs_from_the_repository_root_as_a_module(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "demo.train_adapter", "--base", str(tmp_path), "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path}: no config.json")
    assert result.stdout == ""
