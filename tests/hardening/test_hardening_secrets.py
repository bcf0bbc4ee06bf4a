"""Canary secrets planted through the workflow (the storage account key, ARM and log-stream tokens,
the server's API key) appear in no command output (--debug included), log, config, share file or
error message; and product code never turns TLS verification off."""
import re
import ssl
from pathlib import Path

import httpx
import pytest

from tests.hardening.share_state import share_folder
from tests.paths import REPO

JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
PRODUCT_CODE = ("azext_aitkinfer", "inference_src", "infra")
TLS_OFF = [
    # `verify=False` anywhere, even as a parameter default: product code has no reason to write it.
    re.compile(r"verify['\"]?\s*[=:]\s*(False|0)\b"),
    re.compile(r"CERT_NONE"), re.compile(r"check_hostname\s*=\s*False"),
    re.compile(r"_create_unverified_context"), re.compile(r"PYTHONHTTPSVERIFY"),
    re.compile(r"AZURE_CLI_DISABLE_CONNECTION_VERIFICATION"), re.compile(r"disable_warnings"),
    re.compile(r"\bcurl\b[^\n]*\s(-[a-zA-Z]*k[a-zA-Z]*|--insecure)\b"), re.compile(r"--no-check-certificate"),
]


@pytest.fixture(scope="module")
def canaries(cloud, secured_app):
    config = secured_app.project.config
    keys = cloud.az_json("storage", "account", "keys", "list", "-g", config["RESOURCE_GROUP_NAME"],
                         "-n", config["STORAGE_ACCOUNT_NAME"])
    state = (cloud.state / "state.json").read_text()
    identity_secrets = [cloud.env["IDENTITY_HEADER"], *re.findall(r'"tokenSecret": "([^"]+)"', state)]
    return {"api key": secured_app.api_key, **{f"storage key {k['keyName']}": k["value"] for k in keys},
            **{f"identity secret {i}": s for i, s in enumerate(identity_secrets)}}


def assert_clean(where: str, text: str, canaries: dict[str, str]):
    for name, secret in canaries.items():
        assert secret not in text, f"{name} found in {where}"
    assert not JWT.search(text), f"a bearer token found in {where}: {JWT.search(text).group()[:20]}..."


def files_text(folder: Path):
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield path, path.read_bytes().decode("utf-8", "replace")


def test_no_secret_in_any_command_output_with_debug(secured_app, canaries):
    secured_app.az("aitk-infer", "show-endpoint", "--live", "--debug")
    secured_app.az("aitk-infer", "logs", "--tail", "300", "--debug")
    secured_app.az("aitk-infer", "deploy", "--no-restart", "--debug")
    secured_app.az("aitk-infer", "provision", "--parameters", f"@{secured_app.secret_parameters}", "--debug")
    for output in secured_app.outputs:
        assert_clean(output.splitlines()[0], output, canaries)


def test_no_secret_in_the_server_log_or_its_api_errors(cloud, secured_app, canaries):
    endpoint = "https://" + secured_app.project.config["ACA_APP_ENDPOINT"]
    with httpx.Client(verify=ssl.create_default_context(cafile=cloud.ca), timeout=30) as client:
        wrong = client.get(f"{endpoint}/v1/models", headers={"Authorization": f"Bearer {secured_app.api_key}x"})
        right = client.get(f"{endpoint}/v1/models", headers={"Authorization": f"Bearer {secured_app.api_key}"})
    assert (wrong.status_code, right.status_code) == (401, 200), right.text
    assert_clean("the 401 answer", wrong.text, canaries)
    log = secured_app.az("aitk-infer", "logs", "--tail", "300").stdout
    assert "ready" in log
    assert_clean("the replica log", log, canaries)


def test_no_secret_in_the_config_the_project_or_on_the_share(cloud, secured_app, canaries):
    for path, text in files_text(secured_app.project.root):
        assert_clean(str(path), text, canaries)
    for path, text in files_text(share_folder(cloud, secured_app.project.config)):
        assert_clean(str(path), text, canaries)


def test_no_secret_in_error_messages(cloud, secured_app, canaries, tmp_path):
    cloud.control("POST", "faults", {"armErrors": [
        {"method": "PUT", "resourceType": "Microsoft.App/containerApps", "status": 400, "code": "InvalidParameterValue",
         "message": "The secret value is not valid."}]}).raise_for_status()
    try:
        failed = secured_app.az("aitk-infer", "provision", "--parameters", f"@{secured_app.secret_parameters}",
                                "--debug",
                                check=False)
    finally:
        cloud.control("POST", "faults", {}).raise_for_status()
    assert failed.returncode != 0
    broken = tmp_path / "broken"
    (broken / "aitk_serve").mkdir(parents=True)
    (broken / "launch.sh").write_text('echo "aitk-test: env has ${#AITK_API_KEY} characters"\nexit 3\n')
    timed_out = secured_app.az("aitk-infer", "deploy", "--source", str(broken), "--timeout", "5", "--debug",
                               check=False)
    assert timed_out.returncode != 0 and "aitk-test: env has" in timed_out.stderr
    secured_app.az("aitk-infer", "deploy", "--rollback", "--no-wait")  # the good version again
    for output in secured_app.outputs[-3:]:
        assert_clean(output.splitlines()[0], output, canaries)


def test_product_code_never_disables_tls_verification():
    scanned = [p for folder in PRODUCT_CODE for p in (REPO / folder).rglob("*")
               if p.is_file() and p.suffix in (".py", ".sh", ".bicep", ".json", ".txt")
               and "__pycache__" not in p.parts]
    assert len(scanned) > 20
    found = [f"{p.relative_to(REPO)}: {pattern.pattern}" for p in scanned for pattern in TLS_OFF
             if pattern.search(p.read_text(errors="replace"))]
    assert found == []
