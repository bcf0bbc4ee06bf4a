"""provision + deploy through the real az with 0%, 5%, 10% and 20% of the local cloud's requests
faulted (ARM, Azure Files and the token endpoint; each level split evenly across 429 with
Retry-After: 1, 503 and cut connections), one run. Prints, per level: runs, successes, success
rate, mean wall time, the time overhead against the clean runs of the same process, and how many
requests were faulted. Asserts nothing.

    .venv/bin/python -m bench.faults [--runs 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from localcloud.testing import run_localcloud, start_cloud
from tests.hardening.fault_runs import LEVELS, injected_faults, new_project, provision_and_deploy
from tests.inference.fixtures_models import build_base, edit_adapter_config, train_adapter
from tests.paths import REPO
from tests.workflow.conftest import BASE_NAME

os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))


def build_models(root: Path) -> Path:
    build_base(root / "base")
    train_adapter(root / "base", root / "adapter")
    edit_adapter_config(root / "adapter", base_model_name_or_path=BASE_NAME)
    return root


def measure(cloud, models, work: Path, level: float, runs: int) -> dict:
    outcomes, fired = [], 0
    for run in range(runs):
        tag = f"{int(level * 100)}-{run}"
        project = new_project(cloud, work / f"project-{tag}")
        with injected_faults(cloud, level) as faults:
            outcomes.append(provision_and_deploy(project, models, f"rg-bench-faults-{tag}"))
        fired += faults["fired"]
    ok = [o for o in outcomes if o.ok]
    return {
        "runs": runs,
        "ok": len(ok),
        "seconds": statistics.mean(o.seconds for o in ok) if ok else None,
        "fired": fired,
        "errors": [o.errors[-1] for o in outcomes if not o.ok],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="provision + deploy runs per fault level")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        work = Path(tmp)
        models = build_models(work / "models")
        cloud = start_cloud(work / "cloud")
        try:
            results = {level: measure(cloud, models, work, level, args.runs) for level in (0.0, *LEVELS)}
        finally:
            run_localcloud("stop", work / "cloud")
    clean = results[0.0]["seconds"]
    print(f"provision + deploy (code, adapter, base; no restart), {args.runs} runs per level")
    print(f"{'faulted':>8} {'runs':>5} {'ok':>4} {'success':>8} {'mean s':>8} {'overhead':>9} {'faults fired':>13}")
    for level, r in results.items():
        seconds = f"{r['seconds']:8.2f}" if r["seconds"] else f"{'-':>8}"
        overhead = f"{r['seconds'] / clean:8.2f}x" if r["seconds"] and clean else f"{'-':>9}"
        print(
            f"{level:8.0%} {r['runs']:5d} {r['ok']:4d} {r['ok'] / r['runs']:8.0%} {seconds} {overhead} {r['fired']:13d}"
        )
        for error in r["errors"]:
            print(f"{'':8} failed: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
