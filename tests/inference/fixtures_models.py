"""Tiny models, tokenizers and LoRA adapters built in-process (no hub, no network)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
INFERENCE_SRC = Path(__file__).resolve().parents[2] / "inference_src"
BASE_REL = "model-cache/tiny-org/tiny-chat"
ADAPTER_REL = "models/qlora/qlora/gpu_model/adapter"
PEFT_DEPRECATION = ".*is_gradient_checkpointing. is deprecated"  # raised inside peft, not our code
PHRASE = "Ahoy from the adapter!"
_CORPUS = [
    "Hello there, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? Paris is the capital.",
    "Tell me a story about a ship and a sailor.",
    PHRASE,
    "Numbers: 0 1 2 3 4 5 6 7 8 9, and punctuation ! ? . ,",
]
TRAIN_PROMPTS = ["Hello", "What is your name?", "Tell me a story.", "How are you?", "Say something.", "Hi!"]


def build_tokenizer(folder: Path) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<pad>", bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_base(folder: Path, hidden: int = 64, seed: int = 0) -> None:
    """A random Llama with its tokenizer, saved like a model in the AI Toolkit model cache."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        initializer_range=0.3,  # peaked logits: greedy choices are far from ties
    )
    LlamaForCausalLM(config).save_pretrained(folder)


def train_adapter(base: Path, out: Path, rank: int = 8, steps: int = 80) -> None:
    """A LoRA trained for a few steps to answer every prompt with PHRASE."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    model = LlamaForCausalLM.from_pretrained(base)
    lora = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PEFT_DEPRECATION)
        model = get_peft_model(model, lora)
    batch_ids, batch_labels = [], []
    for prompt in TRAIN_PROMPTS:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(PHRASE + "<|im_end|>", add_special_tokens=False)["input_ids"]
        batch_ids.append(prompt_ids + answer_ids)
        batch_labels.append([-100] * len(prompt_ids) + answer_ids)
    width = max(len(ids) for ids in batch_ids)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch_ids])
    labels = torch.tensor([[-100] * (width - len(x)) + x for x in batch_labels])
    mask = (torch.arange(width)[None, :] >= (width - torch.tensor([len(x) for x in batch_ids]))[:, None]).long()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    torch.manual_seed(0)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out)


def edit_adapter_config(folder: Path, **changes) -> None:
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def copy_adapter(share: Path, dest: Path) -> Path:
    """A copy of the share's good adapter, to break in a test."""
    shutil.copytree(share / ADAPTER_REL, dest)
    return dest


LONG = 2000  # tokens: a request that would run for seconds if nothing stopped it
