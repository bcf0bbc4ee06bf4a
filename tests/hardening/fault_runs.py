"""One provision + deploy through the real az with a share of the local cloud's requests faulted,
and the faults plan itself. Shared by test_hardening_faults.py and bench/faults.py."""
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from localcloud.testing import error_lines
from tests.workflow.conftest import Project, init_project

RESPONSES = (429, 503, "cut")
# Every remote path az and the extension use: ARM, the storage data plane and the token endpoint.
KINDS = ("arm", "files", "identity")
LEVELS = (0.05, 0.10, 0.20)
BUDGET = 10**6  # a fault's count: never reached, but counting down tells how many fired


def fault_plan(level: float) -> dict:
    """`level` of the requests of each kind faulted, split evenly across 429, 503 and cut."""
    return {"faults": [{"kind": kind, "share": level / len(RESPONSES), "response": response, "retryAfter": 1,
                        "count": BUDGET}
                       for kind in KINDS for response in RESPONSES]}


@contextmanager
def injected_faults(cloud, level: float):
    """Faults on while inside; yields a dict whose "fired" is the number of faulted requests."""
    report = {"fired": 0}
    cloud.control("POST", "faults", fault_plan(level) if level else {}).raise_for_status()
    try:
        yield report
    finally:
        active = cloud.control("GET", "faults").json()["faults"]
        report["fired"] = sum(BUDGET - fault["remaining"] for fault in active)
        cloud.control("POST", "faults", {}).raise_for_status()


@dataclass
class Outcome:
    ok: bool
    seconds: float
    failed_step: str | None = None
    errors: list[str] = field(default_factory=list)
    stderr: str = ""
    provision: dict | None = None
    deploy: dict | None = None

    def comparable(self) -> dict:
        """What must be the same as in a clean run: resource types created, code version, bytes moved."""
        return {"created": sorted(c.split()[0] for c in self.provision["created"]),
                "code": self.deploy["code"],
                "models": [{k: v for k, v in m.items() if k != "local"} for m in self.deploy["models"]]}


def new_project(cloud, folder) -> Project:
    return Project(cloud, init_project(cloud, folder))


def provision_and_deploy(project: Project, models, group: str) -> Outcome:
    """provision into a new group, then deploy code, adapter and base (upload and pointer flip)."""
    steps = {
        "provision": ("aitk-infer", "provision", "-g", group, "-l", "westus3", "--yes"),
        "deploy": ("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
                   "--base-model-dir", str(models / "base"), "--no-restart"),
    }
    started, results = time.monotonic(), {}
    for step, args in steps.items():
        result = project.az(*args, "-o", "json", "--only-show-errors", check=False)
        if result.returncode != 0:
            return Outcome(False, time.monotonic() - started, step, error_lines(result.stderr), result.stderr)
        results[step] = json.loads(result.stdout)
    return Outcome(True, time.monotonic() - started, provision=results["provision"], deploy=results["deploy"])
