"""Two `az aitk-infer deploy` runs started together against one app: each succeeds or fails with
one clear line, and the version the share's pointer names is complete, whichever won."""
import hashlib
import json
import shutil
import subprocess

from localcloud.testing import error_lines
from tests.paths import REPO

ROUNDS = 2
PROGRESS_LINES = ("Uploading ", "Finished[")  # az's progress bar, redrawn with \r


def active_version_is_complete(share_root):
    root = share_root / "aitk-infer"
    version = (root / "current").read_text().splitlines()[0]
    files = json.loads((root / "versions" / f"{version}.json").read_text())["files"]
    for relpath, entry in files.items():
        stored = root / "objects" / entry["sha256"]
        assert stored.is_file(), f"{relpath} of the active version {version} is gone"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["sha256"], relpath
    return version, files


def test_two_deploys_started_together_leave_a_complete_active_version(cloud, new_project, tmp_path):
    new_project.az("aitk-infer", "provision", "-g", "rg-two-deploys", "-l", "westus3", "--yes", "-o", "none")
    config = new_project.config
    share_root = cloud.state / "files" / config["STORAGE_ACCOUNT_NAME"] / "shares" / config["FILE_SHARE_NAME"]
    for round_number in range(ROUNDS):
        sources = []
        for name in ("a", "b"):
            source = tmp_path / f"round{round_number}-{name}"
            shutil.copytree(new_project.root / "inference_src", source)
            for number in range(40):  # enough distinct objects that the two uploads overlap
                (source / "extra" / f"{name}-{number}.txt").parent.mkdir(exist_ok=True)
                (source / "extra" / f"{name}-{number}.txt").write_text(f"{round_number} {name} {number}\n" * 500)
            sources.append(source)
        runs = [subprocess.Popen([str(REPO / ".venv" / "bin" / "az"), "aitk-infer", "deploy", "--source",
                                  str(source), "--no-restart", "-o", "json", "--only-show-errors"],
                                 cwd=new_project.root, env=cloud.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for source in sources]
        outcomes = [(run.wait(timeout=300), *run.communicate()) for run in runs]
        for code, _, stderr in outcomes:
            assert "Traceback" not in stderr
            errors = [line for line in error_lines(stderr) if not line.startswith(PROGRESS_LINES)]
            assert code == 0 or (len(errors) == 1 and errors[0].startswith("ERROR: ")), stderr
        assert any(code == 0 for code, _, _ in outcomes)
        version, files = active_version_is_complete(share_root)
        winners = [json.loads(out)["code"]["version"] for code, out, _ in outcomes if code == 0]
        assert version in winners
        assert len([f for f in files if f.startswith("extra/")]) == 40
