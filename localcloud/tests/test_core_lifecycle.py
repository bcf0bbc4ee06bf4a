"""start/stop of a second local cloud: state survives, replicas come back, nothing is left running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from localcloud.cli import StartError, az_login
from localcloud.state import StateDir
from localcloud.testing import run_localcloud, session_cloud, start_cloud, wait_for_stopped_clouds
from localcloud.tests.replicas import build_environment, create_app, replica_of, wait_ready


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(replica: str) -> bool:
    """Is any process of this machine still running as that replica (HOSTNAME is its name)?"""
    marker = f"HOSTNAME={replica}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                return True
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return False


def test_login_is_refused_without_identity_variables(tmp_path, monkeypatch):
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("IDENTITY_HEADER", raising=False)
    with pytest.raises(StartError, match="IDENTITY_ENDPOINT and IDENTITY_HEADER"):
        az_login(StateDir(tmp_path), {"LOCALCLOUD_URL": "https://127.0.0.1:1"})


def test_env_file_sets_the_guard_and_leaves_the_extension_dir_alone(cloud):
    text = (cloud.state / "env").read_text()
    assert "AZURE_EXTENSION_DIR" not in text
    for line in (
        "export HTTPS_PROXY=http://127.0.0.1:9",
        "export NO_PROXY=127.0.0.1,localhost",
        "export AZURE_CORE_COLLECT_TELEMETRY=false",
        f"export AZURE_CONFIG_DIR={cloud.state}/azure",
    ):
        assert line in text


def test_stop_ends_everything_and_start_brings_state_and_replicas_back(tmp_path):
    state = tmp_path / "cloud"
    second = start_cloud(state)
    try:
        env = build_environment(second)
        app = create_app(second.client(ContainerAppsAPIClient), env, "keeper")
        fqdn = app.configuration.ingress.fqdn
        wait_ready(second, fqdn)
        replica_name, server_port = replica_of(second, fqdn), int(second.url.rsplit(":", 1)[1])
        app_port = int(fqdn.rsplit(":", 1)[1])
        assert run_localcloud("stop", state).returncode == 0
        assert not _alive(replica_name)
        assert not _listening(server_port) and not _listening(app_port)
        assert not list((state / "pids").glob("*"))
        second = start_cloud(state)
        assert second.url.endswith(f":{server_port}")
        wait_ready(second, fqdn)
        assert replica_of(second, fqdn) != replica_name
    finally:
        run_localcloud("stop", state)


def test_a_session_cloud_is_stopped_in_the_background_and_waited_for(tmp_path):
    state = tmp_path / "cloud"
    with session_cloud(state) as cloud:
        server_port = int(cloud.url.rsplit(":", 1)[1])
        assert _listening(server_port)
    # Stopping has started, not ended: a session's clouds stop together; the plugin waits at its end.
    wait_for_stopped_clouds()
    assert not _listening(server_port) and not (state / "server.pid").exists()
