from pathlib import Path

import pytest
from tiny_llama import build_model, build_tokenizer

from demo.train_adapter import DEFAULT_DATASET, load_conversations


@pytest.fixture(scope="session")
def style_conversations():
    return load_conversations(DEFAULT_DATASET)


@pytest.fixture(scope="session")
def tiny_tokenizer(style_conversations):
    return build_tokenizer([m["content"] for conversation in style_conversations for m in conversation])


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    return build_model(tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, tiny_model, tiny_tokenizer) -> Path:
    """A tiny random Llama chat model saved like a transformers base model folder."""
    folder = tmp_path_factory.mktemp("tiny-base")
    tiny_model.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder
