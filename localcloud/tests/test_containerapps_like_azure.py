"""A revision runs as Azure Container Apps runs it: images as stand-ins, PID namespaces, limits on
create, Kubernetes' crash back-off, pull failures, and client disconnects passed to the replica."""

from __future__ import annotations

import importlib.metadata
import json
import threading
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from localcloud.containerapps import images, standins
from localcloud.containerapps.runtime import crash_backoff
from localcloud.state import StateDir
from localcloud.testing import unique, wait_until
from localcloud.tests.replicas import app_body, create_app, wait_ready, whoami

VENV = Path(__file__).resolve().parents[2] / ".venv"


@pytest.fixture(scope="module")
def apps(cloud):
    return cloud.client(ContainerAppsAPIClient)


@pytest.fixture(scope="module")
def running(cloud, environment, apps):
    app = create_app(apps, environment, unique("azlike-"))
    wait_ready(cloud, app.configuration.ingress.fqdn)
    yield app
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


def _revision(cloud, environment, app_name: str) -> dict:
    return cloud.az_json("containerapp", "revision", "list", "-n", app_name, "-g", environment.resource_group)[0]


def _system_log(cloud, environment, app_name: str) -> list[dict]:
    out = cloud.az(
        "containerapp", "logs", "show", "-n", app_name, "-g", environment.resource_group,
        "--type", "system", "--format", "json", "--tail", "300",
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_replica_is_pid_1_with_hostname_the_replica_name_and_its_own_temporary_folder(
    cloud, environment, apps, running
):
    me = whoami(cloud, running.configuration.ingress.fqdn)
    revision = apps.container_apps.get(environment.resource_group, running.name).latest_revision_name
    (replica,) = apps.container_apps_revision_replicas.list_replicas(
        environment.resource_group, running.name, revision
    ).value
    assert (me["pid"], me["hostname"]) == (1, replica.name)
    assert Path(me["tmpdir"]).is_relative_to(StateDir(cloud.state).layers / replica.name)
    # The image's stand-in runs the command, never the project's .venv.
    assert Path(me["python"]).is_relative_to(standins.cache_root() / "images")
    assert not Path(me["python"]).is_relative_to(VENV)
    assert {"pypi.org", "files.pythonhosted.org"} <= set(me["no_proxy"].split(","))


def test_replica_temporary_folder_goes_with_the_replica(cloud, environment, apps):
    app = create_app(apps, environment, unique("tmp-"))
    fqdn = app.configuration.ingress.fqdn
    wait_ready(cloud, fqdn)
    first = whoami(cloud, fqdn)
    apps.container_apps_revisions.restart_revision(environment.resource_group, app.name, app.latest_revision_name)

    def new_replica() -> bool:
        reply = cloud.https_get(f"https://{fqdn}/whoami")
        return reply.status_code == 200 and reply.json()["hostname"] != first["hostname"]

    wait_until(new_replica, 60, what="a new replica")
    assert not Path(first["tmpdir"]).exists()
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


@pytest.fixture
def fresh(cloud, environment, apps):
    """An app of its own: the 'gone' mark a test leaves stays with its replica."""
    app = create_app(apps, environment, unique("gone-"))
    wait_ready(cloud, app.configuration.ingress.fqdn)
    yield app.configuration.ingress.fqdn
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


def test_client_disconnect_during_a_stream_reaches_the_replica(cloud, fresh):
    with cloud.https_get(f"https://{fresh}/hold", stream=True, timeout=30) as held:
        assert next(held.iter_lines(chunk_size=1)) == b"data: tick"
    wait_until(lambda: whoami(cloud, fresh)["gone"], 30, what="the replica to learn that its client left")


def test_client_disconnect_before_the_answer_reaches_the_replica(cloud, fresh):
    # vLLM's test_request_cancellation over HTTP: the client gives up on a long request.
    with pytest.raises(requests.Timeout):
        cloud.https_get(f"https://{fresh}/think", timeout=2)
    wait_until(lambda: whoami(cloud, fresh)["gone"], 30, what="the replica to learn that its client left")


def test_unknown_image_fails_the_revision_like_a_failed_pull(cloud, environment, apps):
    body = app_body(environment)
    body["template"]["containers"][0]["image"] = "contoso/no-such-image:1.0"
    app = create_app(apps, environment, unique("nopull-"), body)
    revision = wait_until(
        lambda: (r := _revision(cloud, environment, app.name))["properties"]["runningState"] == "Failed" and r,
        60,
        what="the revision to fail",
    )
    assert "reason 'ImagePullFailure'" in revision["properties"]["runningStateDetails"]
    events = _system_log(cloud, environment, app.name)
    assert [e["Reason"] for e in events][:2] == ["PullingImage", "ImagePullFailure"]
    assert 'Failed to pull image "contoso/no-such-image:1.0"' in events[1]["Msg"]
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


@pytest.mark.parametrize(
    ("probe", "field", "value", "bounds"),
    [
        (1, "period_seconds", 241, "['1', '240']"),
        (1, "timeout_seconds", 0, "['1', '240']"),
        (0, "initial_delay_seconds", 61, "['1', '60']"),
        (1, "failure_threshold", 49, "['1', '48']"),
    ],
)
def test_probe_value_out_of_range_is_refused_with_azures_code(environment, apps, probe, field, value, bounds):
    body = app_body(environment)
    body["template"]["containers"][0]["probes"][probe][field] = value
    with pytest.raises(HttpResponseError) as caught:
        create_app(apps, environment, unique("probe-"), body)
    wire = "".join(part.capitalize() for part in field.split("_"))
    assert (caught.value.status_code, caught.value.error.code) == (400, f"ContainerAppProbe{wire}OutOfRange")
    assert f"probe's {wire} must be in the range of {bounds}" in caught.value.error.message


def test_cpu_and_memory_the_workload_profile_does_not_offer_are_refused(environment, apps):
    body = app_body(environment)
    body["template"]["containers"][0]["resources"] = {"cpu": 1.0, "memory": "1Gi"}
    with pytest.raises(HttpResponseError) as caught:
        create_app(apps, environment, unique("size-"), body)
    assert (caught.value.status_code, caught.value.error.code) == (400, "ContainerAppInvalidResourceTotal")
    message = caught.value.error.message
    assert "(CPU: 1, memory: 1)" in message and "[cpu: 1, memory: 2.0Gi]" in message


def test_crash_loop_backs_off_and_the_revision_reports_failed(cloud, environment, apps):
    body = app_body(environment)
    body["template"]["containers"][0].update(args=["raise SystemExit(3)"], probes=[])
    app = create_app(apps, environment, unique("loop-"), body)
    wait_until(
        lambda: _revision(cloud, environment, app.name)["properties"]["runningState"] == "Failed",
        60,
        what="the revision to report Failed",
    )
    backoffs = [e["Msg"] for e in _system_log(cloud, environment, app.name) if e["Reason"] == "BackOff"]
    assert backoffs[0] == "Back-off restarting failed container 'main': waiting 10s"
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


def test_crash_backoff_doubles_from_10_seconds_up_to_5_minutes():
    assert [crash_backoff(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_failing_startup_probe_restarts_the_container(cloud, environment, apps):
    body = app_body(environment)
    container = body["template"]["containers"][0]
    container["probes"] = [
        {"type": "Startup", "http_get": {"path": "/missing", "port": 8080}, "period_seconds": 1, "failure_threshold": 2}
    ]
    app = create_app(apps, environment, unique("startup-"), body)

    def restarted():
        (replica,) = apps.container_apps_revision_replicas.list_replicas(
            environment.resource_group, app.name, app.latest_revision_name
        ).value
        return replica.containers[0].restart_count >= 1

    wait_until(restarted, 60, what="the container to be restarted")
    details = _revision(cloud, environment, app.name)["properties"]["runningStateDetails"]
    assert "startup probe failed 2 times" in details
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


def test_stand_in_environment_is_built_once_when_two_replicas_start_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    image = images.IMAGES["python:3.11-slim"]
    builds, roots = [], []
    threads = [threading.Thread(target=lambda: roots.append(standins.ensure(image, builds.append))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(builds) == 1 and len(roots) == 2 and roots[0] == roots[1]
    assert (roots[0] / "bin" / "python").is_file() and not roots[0].is_relative_to(VENV)


def test_relabelled_torch_reports_the_image_version_to_pip_and_to_torch(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    info = site / "torch-2.13.0+cpu.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu\n")
    (info / "RECORD").write_text("torch-2.13.0+cpu.dist-info/METADATA,,\ntorch/version.py,,\n")
    (site / "torch").mkdir()
    (site / "torch" / "version.py").write_text("__version__ = '2.13.0+cpu'\ncuda = None\n")
    standins.relabel_torch(tmp_path, "2.4.0")
    (dist,) = importlib.metadata.distributions(path=[str(site)])
    record = (site / "torch-2.4.0.dist-info" / "RECORD").read_text()
    assert dist.version == "2.4.0" and "torch-2.4.0.dist-info/METADATA,," in record
    assert (site / "torch" / "version.py").read_text().startswith("__version__ = '2.4.0'\n")
