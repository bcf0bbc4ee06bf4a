"""Train the demo's small LoRA adapter: answers that open with "Ahoy, matey!" and talk like a pirate.

A visible style makes it obvious whether a served endpoint really applies the adapter. Training
runs on CPU in about 1.5 minutes and writes the adapter where AI Toolkit fine-tuning leaves it:
`<out>/models/qlora/qlora/gpu_model/adapter/`.

    python -m demo.train_adapter --base DIR --out DIR [--steps N] [--dataset FILE]

`--base` is the model folder itself or the `--out` root of prepare_model.py.
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from demo.asset_cache import CachedAsset, build_cached, file_sha256, tree_sha256
from demo.errors import DemoAssetError, installed_versions, require_module, run_cli
from demo.progress import progress

BASE_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_DATASET = Path(__file__).resolve().parent / "style_dataset.jsonl"
ADAPTER_SUBDIR = Path("models/qlora/qlora/gpu_model/adapter")
STYLE_PREFIX = "Ahoy, matey!"
ROLES = {"system", "user", "assistant"}
IGNORE_INDEX = -100  # label value the loss skips


@dataclass(frozen=True)
class TrainSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    steps: int = 60
    batch_size: int = 2  # 60 steps x 2 = two passes over the dataset: enough for the style
    learning_rate: float = 2e-3
    warmup_steps: int = 5
    max_length: int = 256
    seed: int = 1234
    # One thread: measured on 2 busy cores, a backward pass with 2 threads ran 2-10x slower
    # (the threads wait on each other); 1 thread trains the demo in about 1.5 minutes.
    threads: int = 1


def adapter_dir(out: Path) -> Path:
    return out / ADAPTER_SUBDIR


def resolve_base(base: Path, base_name: str = BASE_NAME) -> Path:
    """The model folder: `base` itself, or `base/model-cache/<base_name>` for a prepare_model.py root."""
    for candidate in (base, base / "model-cache" / base_name):
        if (candidate / "config.json").is_file():
            return candidate
    raise DemoAssetError(
        f"{base}: no config.json here or under model-cache/{base_name}; run python -m demo.prepare_model --out {base}"
    )


def load_conversations(path: Path) -> list[list[dict]]:
    """Chat conversations from a JSONL file of `{"messages": [{"role", "content"}, ...]}` lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DemoAssetError(f"{path}: cannot read the dataset ({exc.strerror})") from exc
    conversations = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoAssetError(f'{where}: expected a JSON object with a "messages" list') from exc
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in messages
        ):
            raise DemoAssetError(f"{where}: every message needs a role in {sorted(ROLES)} and a string content")
        if not messages or messages[-1]["role"] != "assistant":
            raise DemoAssetError(f"{where}: the last message must be the assistant's answer to learn")
        conversations.append(messages)
    if not conversations:
        raise DemoAssetError(f"{path}: the dataset has no conversations")
    return conversations


def encode_conversation(tokenizer, messages: list[dict], max_length: int) -> dict:
    """Token ids of the chat-templated conversation, with labels only on the assistant turns.

    Each assistant turn is the text between the prompt that asks for it (generation prompt
    added) and the conversation up to its end, so the end-of-turn token is learned too.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (text.startswith(upto) and upto.startswith(prompt)):
            raise DemoAssetError("the base model's chat template does not render conversations turn by turn")
        spans.append((len(prompt), len(upto)))
    encoded = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length
    )
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
        for token, (begin, _) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
    ]
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}


LIBRARIES = {"torch": "torch==2.13.0", "transformers": "transformers==5.23.0", "peft": "peft==0.21.2"}


def _load_libraries():
    return tuple(require_module(module, pip_args) for module, pip_args in LIBRARIES.items())


def _batches(count: int, settings: TrainSettings, torch):
    """Indices of each step's batch: seeded shuffles of the whole dataset, one after another."""
    generator = torch.Generator().manual_seed(settings.seed)
    order: list[int] = []
    for _ in range(settings.steps):
        while len(order) < settings.batch_size:
            order += torch.randperm(count, generator=generator).tolist()
        yield order[: settings.batch_size]
        order = order[settings.batch_size :]


def _train(base: Path, conversations, settings: TrainSettings, base_name: str, dest: Path) -> dict:
    torch, transformers, peft = _load_libraries()
    torch.set_num_threads(settings.threads)
    transformers.set_seed(settings.seed)
    progress(f"loading base model {base}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    if not tokenizer.chat_template:
        raise DemoAssetError(f"{base}: the tokenizer has no chat template; the adapter trains on chat turns")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Train in float32: bf16 weights on CPU train slowly and lose small LoRA updates.
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = peft.LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, lora)
    examples = [encode_conversation(tokenizer, messages, settings.max_length) for messages in conversations]
    collate = transformers.DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    schedule = transformers.get_cosine_schedule_with_warmup(optimizer, settings.warmup_steps, settings.steps)

    progress(f"training LoRA r={settings.rank} on {len(examples)} conversations for {settings.steps} steps")
    model.train()
    losses = []
    for step, indices in enumerate(_batches(len(examples), settings, torch), start=1):
        batch = collate([examples[i] for i in indices])
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(round(loss.item(), 4))
        progress(f"step {step}/{settings.steps} loss {losses[-1]:.4f}")

    # The adapter must name the base as the share knows it, not this machine's folder.
    model.peft_config["default"].base_model_name_or_path = base_name
    progress(f"saving adapter to {dest}")
    # Embeddings are never trained here; "auto" would look the base name up on the model hub.
    model.save_pretrained(dest, save_embedding_layers=False)
    return {"losses": losses, "first_loss": losses[0], "last_loss": losses[-1]}


def train_adapter(
    base: Path,
    out: Path,
    dataset: Path = DEFAULT_DATASET,
    settings: TrainSettings = TrainSettings(),
    base_name: str = BASE_NAME,
) -> CachedAsset:
    """Write (or reuse) the style adapter under `out` and return it; `summary` holds the losses."""
    if settings.steps < 1 or settings.batch_size < 1:
        raise DemoAssetError("--steps and --batch-size must be at least 1")
    base = resolve_base(Path(base), base_name)
    dataset = Path(dataset)
    conversations = load_conversations(dataset)
    versions = installed_versions(LIBRARIES)
    progress(f"hashing base model {base}")
    inputs = {
        "script": file_sha256(Path(__file__)),
        "base": tree_sha256(base),
        "base_name": base_name,
        "dataset": file_sha256(dataset),
        "settings": asdict(settings),
        "versions": versions,
    }
    out = Path(out)
    return build_cached(
        out,
        "adapter",
        adapter_dir(out),
        inputs,
        lambda dest: _train(base, conversations, settings, base_name, dest),
    )


def main(argv: list[str] | None = None) -> int:
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, type=Path, help="base model folder or prepare_model.py --out root")
    parser.add_argument("--out", required=True, type=Path, help="root of the AI Toolkit-shaped output tree")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="JSONL chat conversations")
    parser.add_argument("--base-name", default=BASE_NAME, help="base_model_name_or_path written to the adapter")
    for field in fields(TrainSettings):
        if field.name != "target_modules":
            flag = "--" + field.name.replace("_", "-")
            parser.add_argument(flag, type=type(getattr(defaults, field.name)), default=getattr(defaults, field.name))
    args = parser.parse_args(argv)
    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings) if hasattr(args, f.name)})
    asset = train_adapter(args.base, args.out, args.dataset, settings, args.base_name)
    losses = asset.summary.get("losses", [])
    if losses:
        progress(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    print(asset.path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
