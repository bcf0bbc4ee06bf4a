"""Settings from the environment, and the container entry point (launch.sh -> python -m aitk_serve)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aitk_serve.config import load_settings
from aitk_serve.errors import ConfigError
from fixtures_models import INFERENCE_SRC


def test_defaults_follow_the_ai_toolkit_share_layout():
    settings = load_settings({})
    assert settings.port == 7860
    assert settings.share_root == Path("/mount")
    assert settings.adapter_path is None and settings.base_model_path is None
    assert settings.merge_adapter is True and settings.base_only is False
    assert (settings.max_batch_size, settings.max_queue, settings.max_new_tokens) == (8, 64, 1024)


def test_relative_paths_are_relative_to_the_share():
    settings = load_settings(
        {"AITK_SHARE_ROOT": "/data", "AITK_ADAPTER_PATH": "models/x/adapter", "AITK_BASE_MODEL_PATH": "/abs/base"}
    )
    assert settings.adapter_path == Path("/data/models/x/adapter")
    assert settings.base_model_path == Path("/abs/base")


def test_api_key_is_not_in_the_settings_repr():
    assert "s3cret" not in repr(load_settings({"AITK_API_KEY": "s3cret"}))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT='http' is not an integer"),
        ({"PORT": "70000"}, "PORT=70000 is out of range: use a value between 1 and 65535"),
        ({"AITK_MERGE_ADAPTER": "maybe"}, "AITK_MERGE_ADAPTER='maybe' is not a boolean: use true or false"),
        ({"AITK_DTYPE": "int4"}, "AITK_DTYPE='int4' is not supported: use one of auto, float32, bfloat16, float16"),
        ({"AITK_DEVICE": "tpu"}, "AITK_DEVICE='tpu' is not supported: use one of auto, cpu, cuda"),
        ({"AITK_MAX_BATCH_SIZE": "0"}, "AITK_MAX_BATCH_SIZE=0 is out of range: use a value between 1 and 256"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert str(caught.value) == message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_launch_script_starts_the_server_even_when_the_model_folder_is_bad(tmp_path):
    """Interpreter already satisfies requirements.txt: no pip, straight to python -m aitk_serve."""
    port = _free_port()
    env = {
        **os.environ,
        "AITK_PYTHON": sys.executable,
        "AITK_SHARE_ROOT": str(tmp_path),
        "PORT": str(port),
        "AITK_HOST": "127.0.0.1",
    }
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(["bash", str(INFERENCE_SRC / "launch.sh")], env=env, stdout=out, stderr=out)
    try:
        deadline, ready = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                if ready.json()["status"] != "loading":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        assert ready.status_code == 503
        assert ready.json()["reason"].startswith(f"no adapter_config.json under {tmp_path / 'models'}")
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert "aitk-infer: needs" not in text and "pyenv" not in text
    assert sum("not ready: no adapter_config.json under" in line for line in text.splitlines()) == 1


def test_bad_setting_stops_the_server_with_one_line():
    env = {**os.environ, "PORT": "http"}
    result = subprocess.run(
        [sys.executable, "-m", "aitk_serve"], cwd=INFERENCE_SRC, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("configuration: PORT='http' is not an integer")
