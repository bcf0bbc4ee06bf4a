"""The user's journey end to end on the local cloud: provision -> deploy (code, base model,
adapter) -> show-endpoint -> chat through the openai client -> change code -> deploy -> new code."""
import time

import httpx
import pytest
from openai import OpenAI

from tests.inference.fixtures_models import PHRASE, TRAIN_PROMPTS


def endpoint_of(project):
    return project.az("aitk-infer", "show-endpoint", "--query", "endpoint", "-o", "tsv").stdout.strip()


def served_version(project):
    return httpx.get(f"{endpoint_of(project)}/health", verify=project.cloud.ca, timeout=10).json()["version"]


def wait_ready(project, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = project.az_json("aitk-infer", "show-endpoint", "--live")
        if live["ready"]:
            return live
        time.sleep(2)
    raise AssertionError(f"not ready after {timeout} s: {live}")


def test_chat_at_the_printed_endpoint_shows_the_adapters_effect(served):
    endpoint = endpoint_of(served)
    assert endpoint.startswith("https://")
    with httpx.Client(verify=served.cloud.ca) as http:
        client = OpenAI(base_url=f"{endpoint}/v1", api_key="unused", http_client=http)
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": TRAIN_PROMPTS[0]}], temperature=0,
            max_tokens=16)
    assert reply.choices[0].message.content.startswith(PHRASE)
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_changed_code_is_served_after_the_next_deploy(served, tmp_path):
    before = served_version(served)
    marker = served.root / "inference_src" / "aitk_serve" / "__init__.py"
    original = marker.read_text()
    marker.write_text(original + "\n# changed by test_journey\n")
    try:
        summary = served.az_json("aitk-infer", "deploy", "--timeout", "240")
    finally:
        marker.write_text(original)
    assert summary["code"]["uploaded"] == 1 and summary["ready"] is True
    assert summary["code"]["version"] != before
    assert served_version(served) == summary["code"]["version"]


def test_a_redeploy_of_unchanged_code_and_models_uploads_nothing(served, models):
    summary = served.az_json("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
                             "--base-model-dir", str(models / "base"), "--timeout", "240")
    assert summary["code"]["bytes"] == 0 and summary["code"]["uploaded"] == 0
    assert all(m["bytes"] == 0 and m["uploaded"] == 0 for m in summary["models"])
    assert summary["restarted"] is True and summary["ready"] is True


def test_no_wait_restarts_and_returns_without_waiting(served):
    result = served.az("aitk-infer", "deploy", "--no-wait", "--only-show-errors")
    assert result.returncode == 0 and result.stdout == ""  # az prints nothing for --no-wait
    live = wait_ready(served)
    assert live["ready"] is True and live["runningState"] == "Running"


@pytest.mark.parametrize("flag", ["--no-restart"])
def test_no_restart_uploads_but_keeps_serving_the_running_version(served, flag):
    running = served_version(served)
    marker = served.root / "inference_src" / "README.md"
    original = marker.read_text()
    marker.write_text(original + "\nA line the test adds.\n")
    try:
        summary = served.az_json("aitk-infer", "deploy", flag)
    finally:
        marker.write_text(original)
    assert summary["restarted"] is False and summary["code"]["version"] != running
    assert served_version(served) == running
    # Rolling back makes the running version current again; a restart serves it.
    rolled = served.az_json("aitk-infer", "deploy", "--rollback", "--timeout", "240")
    assert rolled["code"]["version"] == running and rolled["ready"] is True
    assert served_version(served) == running
