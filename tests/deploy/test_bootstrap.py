"""share_bootstrap.py run for real (python3, cwd = the share's aitk-infer folder on disk)."""
import os
import subprocess
import sys
from pathlib import Path

from azext_aitkinfer import share_bootstrap
from azext_aitkinfer.codeversions import deploy_code

RUN_TIMEOUT_S = 30
REPO = Path(__file__).resolve().parents[2]


def run_bootstrap(code_root, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path / "replica-tmp")}
    (tmp_path / "replica-tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "bootstrap.py"], cwd=code_root, env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)


def test_bootstrap_runs_launch_sh_of_the_active_version_from_a_local_copy(files_cloud, share, source_tree,
                                                                          tmp_path):
    version = deploy_code(share, source_tree)["version"]
    code_root = files_cloud.share_folder(share.share_name) / "aitk-infer"
    result = run_bootstrap(code_root, tmp_path)
    local = tmp_path / "replica-tmp" / "aitk-infer" / version
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"aitk-infer: starting version {version}",
        f"launched {version} from {local} with code root {code_root}"]
    shipped = source_tree / "weights" / "small.bin"
    assert (local / "weights" / "small.bin").read_bytes() == shipped.read_bytes()


def test_bootstrap_reuses_a_complete_local_copy_and_keeps_the_executable_bit(files_cloud, share, source_tree,
                                                                          tmp_path):
    os.chmod(source_tree / "launch.sh", 0o755)
    version = deploy_code(share, source_tree)["version"]
    code_root = files_cloud.share_folder(share.share_name) / "aitk-infer"
    assert run_bootstrap(code_root, tmp_path).returncode == 0
    local = tmp_path / "replica-tmp" / "aitk-infer" / version
    assert os.access(local / "launch.sh", os.X_OK) and not os.access(local / "app" / "main.py", os.X_OK)
    for sha in os.listdir(code_root / "objects"):  # the share's copy is no longer needed
        os.remove(code_root / "objects" / sha)
    assert run_bootstrap(code_root, tmp_path).returncode == 0


def test_bootstrap_refuses_a_version_whose_object_is_corrupt(files_cloud, share, source_tree, tmp_path,
                                                             monkeypatch, capsys):
    version = deploy_code(share, source_tree)["version"]
    code_root = files_cloud.share_folder(share.share_name) / "aitk-infer"
    victim = sorted(os.listdir(code_root / "objects"))[0]
    (code_root / "objects" / victim).write_bytes(b"tampered")
    monkeypatch.setattr(share_bootstrap, "FAILURE_PAUSE_S", 0)
    monkeypatch.chdir(code_root)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(share_bootstrap.tempfile, "tempdir", None)
    assert share_bootstrap.main() == 1
    assert f"refusing to start version {version}: object {victim} does not match its hash" in \
        capsys.readouterr().out
    assert not (tmp_path / "aitk-infer" / version).exists()


def test_bootstrap_without_any_deploy_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(share_bootstrap, "FAILURE_PAUSE_S", 0)
    monkeypatch.chdir(tmp_path)
    assert share_bootstrap.main() == 1
    assert capsys.readouterr().out == "aitk-infer: no code deployed yet: run 'az aitk-infer deploy'\n"


def test_the_templates_start_command_runs_the_deployed_version(files_cloud, share, source_tree,
                                                               tmp_path):
    import json
    version = deploy_code(share, source_tree)["version"]
    mount = files_cloud.share_folder(share.share_name)
    params = json.loads((REPO / "infra/provision/inference.parameters.json").read_text())
    command = "; ".join(params["parameters"]["defaultCommands"]["value"]).replace("/mount",
                                                                                 str(mount))
    (tmp_path / "replica-tmp").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(sys.executable)
    result = subprocess.run(["/bin/bash", "-c", command], capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, env={
                                "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
                                "TMPDIR": str(tmp_path / "replica-tmp")})
    local = tmp_path / "replica-tmp" / "aitk-infer" / version
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"aitk-infer: starting version {version}",
        f"launched {version} from {local} with code root {mount / 'aitk-infer'}"]
