"""Container apps really run: their command is a local process reached over HTTPS at the app's FQDN."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.storage.fileshare import ShareDirectoryClient, ShareFileClient

from localcloud.state import StateDir
from localcloud.testing import unique, wait_until
from localcloud.tests.replicas import app_body, create_app, replica_of, wait_ready


@pytest.fixture(scope="module")
def apps(cloud):
    return cloud.client(ContainerAppsAPIClient)


@pytest.fixture(scope="module")
def running_app(cloud, environment, apps):
    key = cloud.az_json(
        "storage", "account", "keys", "list", "-g", environment.resource_group, "-n", environment.account
    )[0]["value"]
    credential = {"account_name": environment.account, "account_key": key}
    account_url = f"{cloud.url}/{environment.account}"
    directory = ShareDirectoryClient(
        account_url, environment.share, "data", credential=credential, connection_verify=cloud.ca
    )
    if not directory.exists():
        directory.create_directory()
    ShareFileClient(
        account_url, environment.share, "data/hello.txt", credential=credential, connection_verify=cloud.ca
    ).upload_file(b"hello from the share\n")
    app = create_app(apps, environment, unique("app-"))
    wait_ready(cloud, app.configuration.ingress.fqdn)
    return app


def test_app_command_answers_at_its_fqdn_with_share_mounted_and_secret_set(cloud, environment, running_app):
    fqdn = running_app.configuration.ingress.fqdn
    assert fqdn.startswith("127.0.0.1:")
    assert cloud.https_get(f"https://{fqdn}/file").text == "hello from the share\n"
    env = cloud.https_get(f"https://{fqdn}/env").json()
    assert env["APP_SECRET"] == "s3cret-value"  # noqa: S105 - the test secret from app_body
    assert env["DATA_DIR"].startswith(str(cloud.state)) and env["DATA_DIR"].endswith("/data")
    assert env["PORT"] != "8080" and Path(env["HOME"]).is_relative_to(StateDir(cloud.state).layers)


def test_app_reports_revision_and_replica_state_like_arm(cloud, environment, apps, running_app):
    group, name = environment.resource_group, running_app.name
    app = apps.container_apps.get(group, name)
    assert app.provisioning_state == "Succeeded"
    assert app.latest_ready_revision_name == app.latest_revision_name
    revision = apps.container_apps_revisions.get_revision(group, name, app.latest_revision_name)
    assert (revision.active, revision.provisioning_state, revision.health_state, revision.replicas) == (
        True,
        "Provisioned",
        "Healthy",
        1,
    )
    raw = cloud.az_json("rest", "--url", f"{revision.id}?api-version=2024-03-01")
    assert raw["properties"]["runningState"] == "Running"
    replicas = list(apps.container_apps_revision_replicas.list_replicas(group, name, revision.name).value)
    assert replicas[0].containers[0].ready is True and replicas[0].containers[0].started is True


def test_secret_values_only_come_from_list_secrets(cloud, environment, apps, running_app):
    app = apps.container_apps.get(environment.resource_group, running_app.name)
    assert [s.value for s in app.configuration.secrets] == [None]
    listed = apps.container_apps.list_secrets(environment.resource_group, running_app.name).value
    assert [(s.name, s.value) for s in listed] == [("app-secret", "s3cret-value")]


def test_server_sent_events_flow_through_ingress_chunk_by_chunk(cloud, running_app):
    fqdn = running_app.configuration.ingress.fqdn
    with cloud.https_get(f"https://{fqdn}/sse", stream=True, timeout=30) as stream:
        lines = stream.iter_lines()
        first = next(line for line in lines if line)
        # The replica sends the second event only after /go: a buffering proxy would never deliver `first`.
        assert cloud.https_get(f"https://{fqdn}/go").text == "go"
        second = next(line for line in lines if line)
    assert (first, second) == (b"data: first", b"data: second")


def test_revision_restart_replaces_the_process(cloud, environment, apps, running_app):
    fqdn = running_app.configuration.ingress.fqdn
    before = replica_of(cloud, fqdn)
    revision = apps.container_apps.get(environment.resource_group, running_app.name).latest_revision_name
    apps.container_apps_revisions.restart_revision(environment.resource_group, running_app.name, revision)
    wait_ready(cloud, fqdn)
    assert replica_of(cloud, fqdn) != before


def test_new_template_makes_a_new_revision_and_retires_the_old_one(cloud, environment, apps):
    name = unique("rev-")
    first = create_app(apps, environment, name)
    wait_ready(cloud, first.configuration.ingress.fqdn)
    body = app_body(environment, env_vars=[{"name": "DATA_DIR", "value": "/mount/other"}])
    second = create_app(apps, environment, name, body)
    assert second.latest_revision_name != first.latest_revision_name
    wait_ready(cloud, second.configuration.ingress.fqdn)
    assert cloud.https_get(f"https://{second.configuration.ingress.fqdn}/env").json()["DATA_DIR"].endswith("/other")
    old = apps.container_apps_revisions.get_revision(environment.resource_group, name, first.latest_revision_name)
    assert (old.active, old.replicas) == (False, 0)


def test_ingress_answers_503_with_retry_after_until_a_replica_is_ready(cloud, environment, apps):
    body = app_body(environment)
    body["template"]["containers"][0].update(args=["import time; time.sleep(120)"], probes=[])
    app = create_app(apps, environment, unique("slow-"), body)
    reply = cloud.https_get(f"https://{app.configuration.ingress.fqdn}/")
    assert reply.status_code == 503 and reply.headers["Retry-After"].isdigit()
    revision = apps.container_apps_revisions.get_revision(
        environment.resource_group, app.name, app.latest_revision_name
    )
    assert (revision.provisioning_state, revision.health_state) == ("Provisioning", "None")
    apps.container_apps.begin_delete(environment.resource_group, app.name).result()


def test_crashing_command_is_restarted_and_the_revision_reports_failed(cloud, environment, apps):
    body = app_body(environment)
    body["template"]["containers"][0].update(args=["print('boom'); raise SystemExit(3)"], probes=[])
    app = create_app(apps, environment, unique("crash-"), body)
    group = environment.resource_group

    def failed():
        revision = apps.container_apps_revisions.get_revision(group, app.name, app.latest_revision_name)
        return revision if revision.provisioning_state == "Failed" else None

    revision = wait_until(failed, 30, what="the revision to fail")
    assert revision.health_state == "Unhealthy" and "exited with code 3" in revision.provisioning_error
    replica = apps.container_apps_revision_replicas.list_replicas(group, app.name, revision.name).value[0]
    assert replica.containers[0].restart_count >= 1
    apps.container_apps.begin_delete(group, app.name).result()


def test_app_on_a_missing_environment_storage_is_refused(cloud, environment, apps):
    body = app_body(environment)
    body["template"]["volumes"][0]["storage_name"] = "nope"
    with pytest.raises(HttpResponseError) as caught:
        create_app(apps, environment, unique("bad-"), body)
    assert (caught.value.status_code, caught.value.error.code) == (400, "ContainerAppVolumeStorageNotFound")
    assert "storageName 'nope'" in caught.value.error.message
