"""share_bootstrap.py run for real (python3, cwd = the share's aitk-infer folder on disk)."""
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

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


# A share writable by anyone with its key: what the bootstrap must refuse, each in one log line.
VERSION = "0123456789abcdef"


def plant(root, manifest=None, pointer=None, objects=None):
    """A share's aitk-infer folder written by hand: objects {sha256: bytes}, a manifest, a pointer."""
    (root / "objects").mkdir(parents=True, exist_ok=True)
    (root / "versions").mkdir(exist_ok=True)
    for sha, data in (objects or {}).items():
        (root / "objects" / sha).write_bytes(data)
    if manifest is not None:
        (root / "versions" / f"{VERSION}.json").write_bytes(
            manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode())
    (root / "current").write_bytes(pointer if pointer is not None else f"{VERSION}\n".encode())
    return root


def good_entry(data=b"echo hi\n", mode=0o644):
    return hashlib.sha256(data).hexdigest(), {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                              "mode": mode}


def refusal(code_root, tmp_path, monkeypatch, capsys):
    """main()'s exit code and its output lines, with the share folder as working folder."""
    monkeypatch.setattr(share_bootstrap, "FAILURE_PAUSE_S", 0)
    monkeypatch.chdir(code_root)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "replica-tmp"))
    monkeypatch.setattr(share_bootstrap.tempfile, "tempdir", None)
    (tmp_path / "replica-tmp").mkdir(exist_ok=True)
    code = share_bootstrap.main()
    return code, capsys.readouterr().out.splitlines()


def test_an_object_name_that_is_not_a_sha256_is_refused_not_copied(tmp_path, monkeypatch, capsys):
    root = plant(tmp_path / "share", manifest={"files": {"launch.sh": {"sha256": "/dev/zero", "size": 1}}})
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1 and len(lines) == 2
    assert lines[1].startswith(f"aitk-infer: refusing to start version {VERSION}: ")
    assert "names object '/dev/zero', not a sha256" in lines[1]


@pytest.mark.parametrize("pointer", [b"../../x\n", b"/etc/passwd\n", f"{VERSION}/../../x\n".encode(),
                                     b"0123456789ABCDEF\n", b"\xff\xfe\x00garbage\n"])
def test_a_pointer_that_is_not_a_version_id_is_refused(tmp_path, monkeypatch, capsys, pointer):
    sha, entry = good_entry()
    root = plant(tmp_path / "share", manifest={"files": {"launch.sh": entry}}, objects={sha: b"echo hi\n"},
                 pointer=pointer)
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("aitk-infer: refusing to start: the pointer 'current' names ")
    assert "not a version id (16 hex digits)" in lines[0]
    assert not (tmp_path / "replica-tmp" / "aitk-infer").exists()


def test_manifest_modes_lose_setuid_setgid_sticky_and_group_or_world_write(tmp_path):
    sha, entry = good_entry(mode=0o7777)
    root = plant(tmp_path / "share", manifest={"files": {"launch.sh": entry}}, objects={sha: b"echo hi\n"})
    local = share_bootstrap.materialize(str(root), VERSION, str(tmp_path / "local"))
    assert stat.S_IMODE(os.stat(os.path.join(local, "launch.sh")).st_mode) == 0o755


MALFORMED_MANIFESTS = {
    "not JSON": b"{not json",
    "not UTF-8": b"\xff\xfe{}",
    "a JSON list": b"[1, 2]",
    "no files": {"version": VERSION},
    "files is a list": {"files": ["launch.sh"]},
    "an entry is a string": {"files": {"launch.sh": "abc"}},
    "size is text": {"files": {"launch.sh": {"sha256": "a" * 64, "size": "10"}}},
    "mode is a boolean": {"files": {"launch.sh": {"sha256": "a" * 64, "size": 1, "mode": True}}},
    "a path leaves the folder": {"files": {"../launch.sh": {"sha256": "a" * 64, "size": 1}}},
    "an absolute path": {"files": {"/etc/launch.sh": {"sha256": "a" * 64, "size": 1}}},
    "missing": None,
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_MANIFESTS))
def test_a_malformed_manifest_is_one_log_line_and_no_start(tmp_path, monkeypatch, capsys, kind):
    root = plant(tmp_path / "share", manifest=MALFORMED_MANIFESTS[kind])
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1 and len(lines) == 2, lines
    assert lines[1].startswith(f"aitk-infer: refusing to start version {VERSION}: manifest versions/{VERSION}.json")
    assert lines[1].endswith("Fix: run 'az aitk-infer deploy' again")


def test_a_manifest_of_100k_files_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch, capsys):
    files = {f"f{i:06d}.py": {"sha256": "a" * 64, "size": 1} for i in range(100_000)}
    root = plant(tmp_path / "share", manifest={"files": files})
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    size = (root / "versions" / f"{VERSION}.json").stat().st_size
    assert code == 1
    assert f"manifest versions/{VERSION}.json is {size} bytes, more than the {share_bootstrap.MAX_MANIFEST_BYTES}" \
        in lines[1]


def test_a_compact_manifest_with_more_files_than_a_deploy_writes_is_refused(tmp_path, monkeypatch, capsys):
    files = {f"{i}": {"sha256": "a" * 64, "size": 1} for i in range(share_bootstrap.MAX_FILES + 1)}
    root = plant(tmp_path / "share", manifest={"files": files})
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert f"lists {share_bootstrap.MAX_FILES + 1} files, more than {share_bootstrap.MAX_FILES}" in lines[1]


def test_a_20_mb_pointer_is_refused_in_one_short_line(tmp_path, monkeypatch, capsys):
    root = plant(tmp_path / "share", pointer=b"A" * 20_000_000)
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1 and len(lines) == 1 and len(lines[0]) < 200
    assert "the pointer 'current' is 20000000 bytes" in lines[0]


def test_an_object_longer_than_its_manifest_says_is_refused_without_copying_it_all(tmp_path, monkeypatch,
                                                                                   capsys):
    sha, entry = good_entry()
    root = plant(tmp_path / "share", manifest={"files": {"launch.sh": entry}},
                 objects={sha: b"echo hi\n" + b"\0" * 5_000_000})
    code, lines = refusal(root, tmp_path, monkeypatch, capsys)
    assert code == 1 and f"object {sha} is larger than the manifest says" in lines[1]
    assert not list((tmp_path / "replica-tmp" / "aitk-infer").iterdir())
