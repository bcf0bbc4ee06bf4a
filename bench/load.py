"""Load on the inference server over loopback: concurrent streaming chat clients against
`python -m aitk_serve` serving the demo model (SmolLM2-135M-Instruct + the demo's LoRA adapter, built
and cached by demo/prepare_model.py and demo/train_adapter.py), one run. Prints requests by status,
answers per second, time to first token p50/p99, 429s carrying Retry-After, and the server's memory
in the first and last 10 s. Asserts nothing.

    .venv/bin/python -m bench.load [--clients 32] [--seconds 60]
"""
import argparse
import sys
import tempfile
from pathlib import Path

from tests.hardening.load_run import SERVER_ENV, run_load, start_demo_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        server = start_demo_server(Path(tmp) / "server.log")
        try:
            result = run_load(server, args.clients, args.seconds)
        finally:
            server.kill()
    print(f"server settings: {SERVER_ENV}")
    print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
