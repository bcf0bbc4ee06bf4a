"""CLI overhead of the extension: median wall time of `az aitk-infer show-endpoint` against
`az version`, measured in the same run on the same machine. Target: ratio <= 1.3.

    .venv/bin/python -m bench.cli_overhead [--runs 15]
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from localcloud.testing import run_az  # the same offline az environment as the tests

REPO = Path(__file__).resolve().parent.parent


def _median_seconds(args, cwd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run_az(*args, cwd=cwd)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"az {' '.join(args)} failed: {result.stderr.strip()}")
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    # Where `make extension` installed it (the Makefile exports these; run bare, set them too).
    os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
    os.environ.setdefault("AZURE_CONFIG_DIR", str(REPO / ".venv" / "azure-config"))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "infra").mkdir()
        (Path(folder) / "infra" / "inference.config.json").write_text(
            json.dumps({"ACA_APP_ENDPOINT": "app.example.io", "ACA_APP_NAME": "app"})
        )
        # Interleave warm-up of both so file caches treat them alike.
        _median_seconds(["version"], folder, 2)
        _median_seconds(["aitk-infer", "show-endpoint"], folder, 2)
        baseline = _median_seconds(["version"], folder, runs)
        ours = _median_seconds(["aitk-infer", "show-endpoint"], folder, runs)
    print(f"az version                   median {baseline * 1000:7.0f} ms  ({runs} runs)")
    print(f"az aitk-infer show-endpoint  median {ours * 1000:7.0f} ms  ({runs} runs)")
    print(f"ratio show-endpoint / version: {ours / baseline:.2f}x  (target <= 1.30x)")


if __name__ == "__main__":
    main()
