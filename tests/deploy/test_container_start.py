"""The container's start (inference_src/launch.sh -> aitk_start) on stand-in images: a real
interpreter whose installed torch is what an image ships (its package metadata, which is all the
start reads before the server imports it). The whole first start with the real requirements runs
on the local cloud in tests/workflow."""
import base64
import hashlib
import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
import venv
import zipfile

import httpx
import pytest

from tests.paths import REPO

INFERENCE_SRC = REPO / "inference_src"
PROBE = "aitk_probe_pkg"


def make_image(root, torch, with_pip=False):
    """A Python 'image' at root whose torch is `torch` (None: no torch), as its metadata says."""
    venv.EnvBuilder(with_pip=with_pip, symlinks=True).create(root)
    python = root / "bin" / "python"
    site = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   text=True).strip()
    if torch:
        info = os.path.join(site, f"torch-{torch}.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as handle:
            handle.write(f"Metadata-Version: 2.1\nName: torch\nVersion: {torch}\n")
    return python


@pytest.fixture(scope="session")
def image_with_pip(tmp_path_factory):
    return make_image(tmp_path_factory.mktemp("image") / "py", "2.13.0+cpu", with_pip=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_on(python, tmp_path, image_name, constraints=None):
    """launch.sh of a copy of inference_src, as the bootstrap runs it; returns (process, port, log)."""
    version = tmp_path / "version"
    shutil.copytree(INFERENCE_SRC, version, ignore=shutil.ignore_patterns("__pycache__"))
    if constraints is not None:
        (version / "constraints.txt").write_text(constraints)
    port, log = free_port(), tmp_path / "start.log"
    env = {**os.environ, "AITK_PYTHON": str(python), "PORT": str(port), "AITK_HOST": "127.0.0.1",
           "AITK_IMAGE": image_name, "AITK_VERSION": "0123456789abcdef",
           "AITK_LOCAL_ROOT": str(tmp_path / "local"), "AITK_ENVIRONMENTS": str(tmp_path / "envs")}
    with log.open("w") as out:
        process = subprocess.Popen(["bash", str(version / "launch.sh")], env=env, stdout=out, stderr=out)
    return process, port, log


def answers(port, path, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize(("torch", "found"), [("2.4.0", "has torch 2.4.0"), (None, "has no torch")])
def test_an_image_without_a_torch_the_requirements_accept_says_so_on_ready_and_in_one_log_line(
        tmp_path, torch, found):
    python = make_image(tmp_path / "image", torch)
    process, port, log = start_on(python, tmp_path, "example/image:1")
    try:
        health, ready = answers(port, "/health"), answers(port, "/ready")
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert health.status_code == 200 and health.json()["version"] == "0123456789abcdef"
    assert ready.status_code == 503 and ready.json()["status"] == "failed"
    reason = ready.json()["reason"]
    assert reason.startswith(f"the image example/image:1 {found}; the requirements need torch>=2.6.")
    assert "--parameters containerImage=" in reason
    assert log.read_text().splitlines() == [f"aitk-infer: not ready: {reason}"]
    assert process.returncode == 143  # it stops on the platform's SIGTERM, PID 1 or not
    assert not (tmp_path / "local").exists()  # nothing slow ran before the check


def test_a_constraints_file_without_a_torch_minimum_is_said_on_ready_not_a_traceback(tmp_path):
    python = make_image(tmp_path / "image", "2.7.1")
    process, port, log = start_on(python, tmp_path, "example/image:1", constraints="torch\n")
    try:
        ready = answers(port, "/ready")
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert ready.status_code == 503 and ready.json()["reason"].endswith(
        "constraints.txt: 'torch': write the torch line as torch>=X.Y")
    assert "Traceback" not in log.read_text()


def probe_wheel(folder):
    """A one-module wheel, so pip installs something real without reaching an index."""
    folder.mkdir()
    files = {f"{PROBE}.py": b"VALUE = 42\n",
             f"{PROBE}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n".encode(),
             f"{PROBE}-1.0.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items()) + f"{PROBE}-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{PROBE}-1.0-py3-none-any.whl", "w") as wheel:
        for name, data in {**files, f"{PROBE}-1.0.dist-info/RECORD": record.encode()}.items():
            wheel.writestr(name, data)
    return folder


@pytest.fixture
def version_with_probe_requirements(tmp_path):
    """A version folder whose requirements are the probe wheel, pip pointed at it only."""
    version = tmp_path / "version"
    version.mkdir()
    shutil.copytree(INFERENCE_SRC / "aitk_start", version / "aitk_start")
    shutil.copy(INFERENCE_SRC / "constraints.txt", version)
    (version / "requirements.txt").write_text(f"-c constraints.txt\n{PROBE}==1.0\n")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(probe_wheel(tmp_path / "wheels"))}
    env.pop("PIP_CONSTRAINT", None)
    return version, env


ENSURE = ("import sys; from aitk_start import environment, torch_check; "
          "print(environment.ensure('.', sys.argv[1], sys.argv[2], torch_check.found()))")


def ensure(python, version, env, envs, local):
    return subprocess.Popen([python, "-c", ENSURE, str(envs), str(local)], cwd=version, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_starts_at_once_build_the_environment_once_and_both_use_it(image_with_pip, tmp_path,
                                                                       version_with_probe_requirements):
    version, env = version_with_probe_requirements
    envs = tmp_path / "share" / "envs"
    starts = [ensure(image_with_pip, version, env, envs, tmp_path / f"replica{i}") for i in (1, 2)]
    outputs = [start.communicate(timeout=300)[0] for start in starts]
    assert [start.returncode for start in starts] == [0, 0], outputs
    assert sum("installing requirements.txt" in out for out in outputs) == 1, outputs
    assert sum("another replica is building it" in out or "unpacked from the share" in out
               for out in outputs) == 1, outputs
    for out in outputs:
        python = out.strip().splitlines()[-1]
        assert subprocess.check_output([python, "-c", f"import {PROBE}; print({PROBE}.VALUE)"], text=True) == "42\n"
    (archive,) = envs.glob("*.tar.gz")
    assert archive.name.endswith(".tar.gz") and not list(envs.glob(".*partial"))
    with tarfile.open(archive) as tar:  # one header per member (no pax header for each float mtime)
        assert [m.name for m in tar if m.pax_headers] == []


def test_a_later_start_unpacks_the_packed_environment_without_pip(image_with_pip, tmp_path,
                                                                  version_with_probe_requirements):
    version, env = version_with_probe_requirements
    envs = tmp_path / "share" / "envs"
    first = ensure(image_with_pip, version, env, envs, tmp_path / "replica1").communicate(timeout=300)[0]
    env["PIP_FIND_LINKS"] = str(tmp_path / "nowhere")  # pip could not install anything now
    later = ensure(image_with_pip, version, env, envs, tmp_path / "replica2")
    out = later.communicate(timeout=300)[0]
    assert "installing requirements.txt" in first
    assert later.returncode == 0 and "unpacked from the share" in out and "installing" not in out, out


def test_the_environment_key_covers_the_torch_the_image_has(tmp_path):
    keys = set()
    for torch in ("2.6.0", "2.7.1"):
        python = make_image(tmp_path / torch, torch)
        keys.add(subprocess.check_output([python, "-c", "from aitk_start import environment; "
                                          "print(environment.key('.'))"], cwd=INFERENCE_SRC, text=True))
    assert len(keys) == 2


def test_a_planted_archive_with_a_path_out_of_its_folder_is_rebuilt_not_unpacked(
        image_with_pip, tmp_path, version_with_probe_requirements):
    version, env = version_with_probe_requirements
    envs = tmp_path / "share" / "envs"
    key = subprocess.check_output([image_with_pip, "-c", "from aitk_start import environment; "
                                   "print(environment.key('.'))"], cwd=version, env=env, text=True).strip()
    envs.mkdir(parents=True)
    with tarfile.open(envs / f"{key}.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../../../escaped.txt")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"owned"))
    start = ensure(image_with_pip, version, env, envs, tmp_path / "replica")
    out = start.communicate(timeout=300)[0]
    assert start.returncode == 0, out
    assert "is unreadable" in out and "installing requirements.txt" in out
    assert not any(tmp_path.rglob("escaped.txt"))
