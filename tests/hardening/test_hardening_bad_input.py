"""Bad input, end to end: each case is a real az command in a copy of a deployed project (one
`ERROR:` line naming the file or flag, a non-zero exit, no traceback, no project file and no remote
state changed) or a real HTTP request to a running server (the right 4xx in the OpenAI error shape,
and the server still ready).

Covered elsewhere, so not repeated here: inference.config.json malformations
(tests/extension/test_workspace_files.py), ARM error hints (tests/workflow/test_provision.py),
adapter_config.json that is not JSON (tests/workflow/test_deploy_failures.py), the server's own
adapter checks, wrong base included (tests/inference/test_bad_adapters.py), and the request
fields of tests/inference/test_bad_requests.py."""
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from localcloud.testing import error_lines
from tests.hardening.serve_process import ServerProcess
from tests.hardening.share_state import share_folder, tree_digest
from tests.workflow.conftest import Project

OUTSIDE = "/etc/hostname"  # a symlink target outside any folder we deploy
HUGE_BYTES = 24 * 2**20


@dataclass(frozen=True)
class AzCase:
    """`args` may name the folders built for the case: {adapter}, {base}, {source}, {file}, {tmp}."""
    id: str
    args: tuple
    fragment: str
    project_files: dict = field(default_factory=dict)  # relative path -> bytes, or None to delete
    adapter: dict | None = None  # relative path -> bytes, None (delete) or a symlink target (Path)
    base: dict | None = None
    source: dict | None = None
    folder_name: str = "folder"


def params(**entries) -> bytes:
    return json.dumps({"parameters": entries}).encode()


PARAMS = "infra/provision/inference.parameters.json"
PROVISION = ("aitk-infer", "provision")
DEPLOY = ("aitk-infer", "deploy")
DEPLOY_ADAPTER = (*DEPLOY, "--adapter-dir", "{adapter}", "--no-restart")
DEPLOY_BASE = (*DEPLOY, "--base-model-dir", "{base}", "--no-restart")
TRUNCATED = b"truncate:1000"  # marker: the case's weights file cut to 1000 bytes

AZ_CASES = [
    # parameter and config files
    AzCase("params-unknown-name", PROVISION, "unknown parameter 'gpuCount'",
           {PARAMS: params(gpuCount={"value": 2})}),
    AzCase("params-wrong-type", PROVISION, "parameter 'maximumInstanceCount' must be int, got str",
           {PARAMS: params(maximumInstanceCount={"value": "two"})}),
    AzCase("params-value-not-allowed", PROVISION, "parameter 'gpuProfileType' must be one of",
           {PARAMS: params(gpuProfileType={"value": "Consumption-GPU-H100"})}),
    AzCase("params-not-utf8", PROVISION, "not valid UTF-8", {PARAMS: b'{"parameters": {"acaAppName": "\xff"}}'}),
    AzCase("params-huge-array", PROVISION, "expected a JSON object",
           {PARAMS: b"[" + b"0," * (HUGE_BYTES // 2) + b"0]"}),
    AzCase("bicep-edited-without-bicep-cli", PROVISION, "changed since its twin inference.json was built",
           {"infra/provision/inference.bicep": b"// edited\n"}),
    AzCase("finetuning-config-number", PROVISION, "key 'RESOURCE_GROUP_NAME' must be a string",
           {"infra/finetuning.config.json": b'{"RESOURCE_GROUP_NAME": 5}'}),
    # command flags
    AzCase("parameters-file-missing", (*PROVISION, "--parameters", "@{tmp}/nope.json"), "file not found"),
    AzCase("parameters-int-not-a-number", (*PROVISION, "--parameters", "maximumInstanceCount=many"),
           "parameter 'maximumInstanceCount' expects int, got 'many'"),
    AzCase("parameters-bare-word", (*PROVISION, "--parameters", "maximumInstanceCount"), "expected name=value"),
    AzCase("parameters-broken-json", (*PROVISION, "--parameters", '{{"maximumInstanceCount": '), "invalid JSON"),
    AzCase("parameters-unknown-name", (*PROVISION, "--parameters", "replicas=2"), "unknown parameter 'replicas'"),
    AzCase("parameters-array-for-object", (*PROVISION, "--parameters", "tags=[1,2]"),
           "parameter 'tags' must be object"),
    AzCase("deployment-name-invalid", (*PROVISION, "--deployment-name", "my deploy!"), "--deployment-name my deploy!"),
    AzCase("group-missing-no-location", (*PROVISION, "-g", "rg-never-made"), "Fix: pass --location"),
    AzCase("group-missing-no-consent", (*PROVISION, "-g", "rg-never-made", "-l", "westus3"), "Fix: pass --yes"),
    AzCase("timeout-zero", (*DEPLOY, "--timeout", "0"), "--timeout 0: must be a positive number"),
    AzCase("rollback-with-upload", (*DEPLOY, "--rollback", "--source", "{source}"), "--rollback switches",
           source={}),
    AzCase("logs-negative-tail", ("aitk-infer", "logs", "--tail", "-1"), "--tail -1: must be between 0 and 300"),
    # workspace layouts
    AzCase("workspace-missing", ("aitk-infer", "show-endpoint", "--workspace", "{tmp}/none"), "not a folder"),
    AzCase("workspace-without-infra", (*DEPLOY, "--workspace", "{source}"), "has no infra/ folder", source={}),
    AzCase("project-without-launch-sh", DEPLOY, "no launch.sh", {"inference_src/launch.sh": None}),
    AzCase("source-symlink-outside", (*DEPLOY, "--source", "{source}", "--no-restart"), "symlink points outside",
           source={"aitk_serve/link": Path(OUTSIDE)}),
    # adapter and model folders
    AzCase("adapter-dir-missing", (*DEPLOY, "--adapter-dir", "{tmp}/none"), "none: not a folder"),
    AzCase("adapter-without-weights", DEPLOY_ADAPTER, "no adapter_model.safetensors",
           adapter={"adapter_model.safetensors": None}),
    AzCase("adapter-weights-truncated", DEPLOY_ADAPTER, "not a valid safetensors file (its header claims",
           adapter={"adapter_model.safetensors": TRUNCATED}),
    AzCase("adapter-weights-not-safetensors", DEPLOY_ADAPTER, "its header is not safetensors JSON",
           adapter={"adapter_model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"}),
    AzCase("adapter-config-huge-array", DEPLOY_ADAPTER, "expected a JSON object",
           adapter={"adapter_config.json": b"[" + b" " * HUGE_BYTES + b"]"}),
    AzCase("adapter-file-name-azure-refuses", (*DEPLOY_ADAPTER, "--source", "{source}"),
           "Azure Files does not allow", adapter={"notes:v2.txt": b"x"}, source={"aitk_serve/new.py": b"# new\n"}),
    AzCase("adapter-symlink-outside", DEPLOY_ADAPTER, "symlink points outside", adapter={"extra": Path(OUTSIDE)}),
    AzCase("adapter-odd-name-without-config", DEPLOY_ADAPTER, "my adapter ü/adapter_config.json: file not found",
           adapter={"adapter_config.json": None}, folder_name="my adapter ü"),
    AzCase("base-without-config", DEPLOY_BASE, "config.json: file not found", base={"config.json": None}),
    AzCase("base-weights-truncated", DEPLOY_BASE, "model.safetensors: not a valid safetensors file",
           base={"model.safetensors": TRUNCATED}),
]


def build_folder(origin: Path | None, dest: Path, changes: dict) -> Path:
    if origin is not None:
        shutil.copytree(origin, dest, ignore=shutil.ignore_patterns("__pycache__"))
    dest.mkdir(parents=True, exist_ok=True)
    for relpath, content in changes.items():
        path = dest / relpath
        if content is None:
            path.unlink()
        elif isinstance(content, Path):
            path.symlink_to(content)
        elif content == TRUNCATED:
            os.truncate(path, 1000)
        else:
            path.write_bytes(content)
    return dest


def remote_state(cloud, config) -> tuple:
    """The share's files and ARM's resources and deployments."""
    state = json.loads((cloud.state / "state.json").read_text())
    return tree_digest(share_folder(cloud, config)), {k: state[k] for k in ("resourceGroups", "resources",
                                                                          "deployments")}


def check_az_case(case: AzCase, cloud, models, secured_app, tmp_path):
    """One ERROR line naming the problem, a non-zero exit, no traceback, nothing changed."""
    project = Project(cloud, tmp_path / "project")
    shutil.copytree(secured_app.project.root, project.root, ignore=shutil.ignore_patterns("__pycache__"))
    build_folder(None, project.root, case.project_files)
    folders = {"tmp": str(tmp_path)}
    for name, origin in (("adapter", models / "adapter"), ("base", models / "base"),
                         ("source", project.root / "inference_src")):
        changes = getattr(case, name)
        if changes is not None:
            folders[name] = str(build_folder(origin, tmp_path / name / case.folder_name, changes))
    before_files, before_remote = tree_digest(project.root), remote_state(cloud, project.config)

    result = project.az(*(arg.format(**folders) for arg in case.args), check=False)

    lines = error_lines(result.stderr)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and case.fragment in lines[0], result.stderr
    assert tree_digest(project.root) == before_files
    assert remote_state(cloud, project.config) == before_remote


def test_odd_but_valid_names_deploy_and_mirror_exactly(cloud, models, secured_app, tmp_path):
    """Spaces and non-ASCII in folder and file names are not bad input."""
    adapter = build_folder(models / "adapter", tmp_path / "my adapter ü", {"notes é 1.txt": "ünïcode".encode()})
    summary = secured_app.project.az_json("aitk-infer", "deploy", "--adapter-dir", str(adapter), "--no-restart")
    share = share_folder(cloud, secured_app.project.config)
    assert summary["models"][0]["uploaded"] == 1  # only the new file; the rest is there already
    assert tree_digest(share / summary["models"][0]["share"]).items() >= tree_digest(adapter).items()
    restored = secured_app.project.az_json("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
                                           "--no-restart")
    assert restored["models"][0]["deleted"] == 1


USER = [{"role": "user", "content": "Hello"}]


def body(**fields) -> bytes:
    return json.dumps({"messages": USER, **fields}).encode()


@dataclass(frozen=True)
class HttpCase:
    """A request body the API must refuse with 400 invalid_request_error naming `param`."""
    id: str
    raw: bytes
    content_type: str | None
    param: str | None
    fragment: str


JSON_OBJECT = "must be a JSON object"
HI = b'{"messages": [{"role": "user", "content": "hi"}], '
HTTP_CASES = [
    HttpCase("invalid-utf8", b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', None, None, JSON_OBJECT),
    HttpCase("nesting-too-deep", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None, None, JSON_OBJECT),
    HttpCase("text-plain", body(), "text/plain", None, "Content-Type: application/json"),
    HttpCase("max-tokens-negative", body(max_tokens=-5), None, "max_tokens", "greater than or equal to 1"),
    HttpCase("max-tokens-huge", body(max_tokens=10**30), None, "max_tokens", "above this server's limit"),
    HttpCase("max-tokens-fraction", body(max_tokens=1.5), None, "max_tokens", "fractional part"),
    HttpCase("max-tokens-string", body(max_tokens="ten"), None, "max_tokens", "valid integer"),
    HttpCase("max-tokens-infinity", HI + b'"max_tokens": Infinity}', None, "max_tokens", "finite number"),
    HttpCase("max-completion-tokens-negative", body(max_completion_tokens=-1), None, "max_completion_tokens",
             "greater than or equal to 1"),
    HttpCase("temperature-nan", HI + b'"temperature": NaN}', None, "temperature", "finite number"),
    HttpCase("temperature-string", body(temperature="hot"), None, "temperature", "valid number"),
    HttpCase("messages-a-string", json.dumps({"messages": "hi"}).encode(), None, "messages", "valid list"),
    HttpCase("message-null", json.dumps({"messages": [None]}).encode(), None, "messages.0", "valid dictionary"),
    HttpCase("message-without-role", json.dumps({"messages": [{"content": "x"}]}).encode(), None,
             "messages.0.role", "Field required"),
    HttpCase("content-a-number", json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(), None,
             "messages.0.content", "valid string"),
    HttpCase("stop-a-number", body(stop=5), None, "stop", "valid list"),
    HttpCase("seed-a-string", body(seed="abc"), None, "seed", "valid integer"),
    HttpCase("model-a-number", body(model=5), None, "model", "valid string"),
    HttpCase("stream-not-boolean", body(stream="maybe"), None, "stream", "valid boolean"),
    # Both refused before tokenizing: they cannot fit in a context of 256 tokens, whatever they tokenize to.
    HttpCase("thousands-of-messages", json.dumps({"messages": USER * 5000}).encode(), None, "messages",
             "more than a context of 256 tokens can take"),
    HttpCase("huge-prompt", json.dumps({"messages": [{"role": "user", "content": "word " * 200_000}]}).encode(),
             None, "messages", "more than a context of 256 tokens can take"),
    HttpCase("lone-surrogate", HI.replace(b'"hi"', b'"\\ud800"') + b'"n": 1}', None, "messages.0.content",
             "lone UTF-16 surrogate"),
    HttpCase("seed-above-int64", body(seed=2**64), None, "seed", "less than"),
    HttpCase("tools", body(tools=[{"type": "function", "function": {"name": "f"}}]), None, "tools",
             "tool calling is not supported"),
]


@pytest.fixture(scope="module")
def api_server(tiny_share, tmp_path_factory):
    server = ServerProcess({"AITK_SHARE_ROOT": str(tiny_share), "AITK_MAX_MODEL_LEN": "256"},
                           tmp_path_factory.mktemp("api-server") / "server.log").start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def check_http_case(case: HttpCase, server: ServerProcess):
    """400 in the OpenAI error shape naming the field, and the server still ready."""
    response = httpx.post(f"{server.url}/v1/chat/completions", content=case.raw, timeout=60,
                          headers={"Content-Type": case.content_type or "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", case.param)
    assert case.fragment in error["message"]
    assert server.ready_status() == 200


BAD_INPUT = [*AZ_CASES, *HTTP_CASES]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c.id for c in BAD_INPUT])
def test_bad_input_is_refused_clearly_and_changes_nothing(request, tmp_path, case):
    if isinstance(case, AzCase):
        check_az_case(case, *(request.getfixturevalue(name) for name in ("cloud", "models", "secured_app")),
                      tmp_path)
    else:
        check_http_case(case, request.getfixturevalue("api_server"))
