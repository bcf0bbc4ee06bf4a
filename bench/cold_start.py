"""Cold start of the inference container on the local cloud, one run:

- first start: `az aitk-infer deploy` to ready on a fresh share (the replica installs the pinned
  requirements and packs the environment to the share);
- later start: `az aitk-infer deploy` of the same code to ready (the restarted replica unpacks the
  packed environment: no pip);
- and the share files the container reads during a restart alone (`az containerapp revision
  restart`, so no deploy touches the share meanwhile), counted with inotify on the share folder;
  beside them, the files the server reads from its unpacked environment on local disk, which is
  what a start would read over SMB if the environment lived on the share.

Prints seconds, the ratio later/first, and files read by top-level share folder. Asserts nothing.

    .venv/bin/python -m bench.cold_start
"""

import collections
import os
import tempfile
import threading
import time
from pathlib import Path

from inotify_simple import INotify, flags

from localcloud.storage.models import FileStore
from localcloud.testing import run_localcloud, start_cloud
from tests.paths import REPO
from tests.workflow.conftest import Project, build_models, init_project

os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
READY_TIMEOUT_S = 1500


class ShareReads:
    """Distinct files under `root` whose content was read, while counting."""

    def __init__(self, root: Path):
        self.root, self.inotify, self.dirs = root, INotify(), {}
        self.read, self.counting, self.stopped = set(), False, False
        self._watch_tree(root)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _watch_tree(self, top: Path):
        for folder, _, _ in os.walk(top):
            mask = flags.ACCESS | flags.CREATE | flags.MOVED_TO | flags.ONLYDIR
            self.dirs[self.inotify.add_watch(folder, mask)] = Path(folder)

    def _loop(self):
        while not self.stopped:
            for event in self.inotify.read(timeout=200):
                if event.mask & flags.Q_OVERFLOW:
                    print(f"warning: inotify queue overflowed under {self.root}: counts are low")
                folder = self.dirs.get(event.wd)
                if folder is None or not event.name:
                    continue
                path = folder / event.name
                if event.mask & flags.ISDIR and event.mask & (flags.CREATE | flags.MOVED_TO):
                    self._watch_tree(path)
                elif self.counting and event.mask & flags.ACCESS and not event.mask & flags.ISDIR:
                    self.read.add(path.relative_to(self.root))

    def count(self):
        self.read, self.counting = set(), True

    def result(self):
        time.sleep(0.5)  # events of the last reads are still queued
        self.counting = False
        by_folder = collections.Counter(
            "/".join(p.parts[:2]) if p.parts[0] == "aitk-infer" else p.parts[0] for p in self.read)
        return len(self.read), dict(by_folder)

    def under(self, marker: str) -> int:
        return sum(1 for p in self.read if any(part.startswith(marker) for part in p.parts))


def timed_deploy(project: Project, *extra: str) -> float:
    started = time.monotonic()
    project.az("aitk-infer", "deploy", *extra, "--timeout", str(READY_TIMEOUT_S), "-o", "none",
               timeout=READY_TIMEOUT_S + 120)
    return time.monotonic() - started


def wait_ready(project: Project, timeout: float = READY_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if project.az_json("aitk-infer", "show-endpoint", "--live")["ready"]:
            return
        time.sleep(1)
    raise RuntimeError(f"not ready after {timeout} s")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        work = Path(tmp)
        models = build_models(work / "models")
        cloud = start_cloud(work / "cloud")
        try:
            project = Project(cloud, init_project(cloud, work / "project"))
            project.az("aitk-infer", "provision", "-g", "rg-bench-cold", "-l", "westus3", "--yes", "-o", "none")
            config = project.config
            share = FileStore(cloud.state / "files").share_path(config["STORAGE_ACCOUNT_NAME"],
                                                                config["FILE_SHARE_NAME"])
            reads = ShareReads(share)
            reads.count()
            first = timed_deploy(project, "--adapter-dir", str(models / "adapter"),
                                 "--base-model-dir", str(models / "base"))
            first_files, first_by = reads.result()
            later = timed_deploy(project)
            revision = project.az_json("containerapp", "show", "-g", "rg-bench-cold", "-n",
                                       config["ACA_APP_NAME"])["properties"]["latestRevisionName"]
            reads.count()
            local = ShareReads(cloud.state / "replicas")  # the replicas' local disks
            local.count()
            project.az("containerapp", "revision", "restart", "-g", "rg-bench-cold", "-n", config["ACA_APP_NAME"],
                       "--revision", revision, "-o", "none")
            time.sleep(3)  # the old replica answers ready until the restart takes it down
            wait_ready(project)
            later_files, later_by = reads.result()
            local.result()
            env_files = local.under("env-")
            reads.stopped = local.stopped = True
        finally:
            run_localcloud("stop", work / "cloud")
    print(f"first start (install, pack): deploy to ready {first:7.1f} s, share files read {first_files:5d} "
          f"{first_by}")
    print(f"later start (unpack):        deploy to ready {later:7.1f} s")
    print(f"restart alone:                                       share files read {later_files:5d} {later_by}")
    print(f"  files it read from the unpacked environment on local disk (over SMB with a venv on the share): "
          f"{env_files}")
    print(f"ratio later/first: time {later / first:.2f}, share files read {later_files / max(first_files, 1):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
