"""Share sync against `az storage file upload-batch --max-connections 8` on the same local cloud, one run.

Scenarios: first upload of inference_src/, a no-op redeploy, a one-file change, a 300 MB model
folder. For each: file bytes sent (Put Range bodies), data-plane requests and wall time, from
localcloud's GET /_localcloud/stats, and the ratios ours / upload-batch. Ours runs in a fresh
Python process (imports included), upload-batch as the real az command (its start-up included;
the az start-up alone is printed too). Targets: no-op 0 file bytes and <= 3 requests; one-file
change = that file + manifest (+ pointer); 300 MB wall-time ratio <= 1.0.

    .venv/bin/python -m bench.sync [--model-mb 300]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from localcloud.testing import LocalCloudError, run_localcloud, start_cloud

REPO = Path(__file__).resolve().parent.parent
AZ = Path(sys.executable).with_name("az")
ACCOUNT, GROUP, OURS_SHARE, BATCH_SHARE = "benchsync1", "rg-bench-sync", "ours", "batch"
RANGE_OP = "files:write:PUT range"

OURS = """
import json, sys
from azure.storage.fileshare import ShareClient
from azext_aitkinfer.codeversions import deploy_code
from azext_aitkinfer._client_factory import retry_policy
from azext_aitkinfer.folder_mirror import sync_folder
url, share, key, ca, kind, source = sys.argv[1:]
client = ShareClient(url, share, credential={"account_name": url.rsplit("/", 1)[1], "account_key": key},
                     connection_verify=ca, retry_policy=retry_policy())
result = deploy_code(client, source) if kind == "code" else sync_folder(client, source, "models/base")
print(json.dumps(result))
"""



def az(env, *args):
    result = subprocess.run(
        [str(AZ), *args, "--only-show-errors"], env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise SystemExit(f"az {' '.join(args[:3])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


class Cloud:
    def __init__(self, env):
        self.env, self.url, self.ca = env, env["LOCALCLOUD_URL"], env["REQUESTS_CA_BUNDLE"]

    def stats(self, method="GET"):
        reply = requests.request(method, f"{self.url}/_localcloud/stats", verify=self.ca, timeout=10, proxies={})
        reply.raise_for_status()
        return reply.json()

    def measure(self, command, env):
        """Run command; return (file bytes sent, data-plane requests, seconds, stdout)."""
        self.stats("DELETE")
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{command[:3]} failed: {result.stderr.strip()[-800:]}")
        time.sleep(0.2)  # the server counts a streamed response after its last byte
        operations = self.stats()["operations"]
        files = {k: v for k, v in operations.items() if k.startswith("files:")}
        return (
            files.get(RANGE_OP, {}).get("bytesIn", 0),
            sum(v["count"] for v in files.values()),
            seconds,
            result.stdout,
        )


def prepare_sources(folder, model_mb):
    code = folder / "inference_src"
    shutil.copytree(REPO / "inference_src", code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if not (code / "launch.sh").exists():  # the deploy requires it; the repo may not have it yet
        (code / "launch.sh").write_text("exec python3 -m aitk_serve\n")
    model = folder / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "tokenizer.json").write_bytes(os.urandom(2 * 1024 * 1024))
    with open(model / "model.safetensors", "wb") as handle:
        for _ in range(model_mb - 2):
            handle.write(os.urandom(1024 * 1024))
    return code, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-mb", type=int, default=300)
    model_mb = parser.parse_args().model_mb
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        state = scratch / "cloud"
        try:
            cloud = start_cloud(state)
        except LocalCloudError as exc:
            raise SystemExit(str(exc)) from None
        try:
            run(Cloud(cloud.env), scratch, model_mb)
        finally:
            run_localcloud("stop", state)


def run(cloud, scratch, model_mb):
    env = cloud.env
    az(env, "group", "create", "-n", GROUP, "-l", "eastus", "-o", "none")
    az(
        env,
        "storage",
        "account",
        "create",
        "-n",
        ACCOUNT,
        "-g",
        GROUP,
        "-l",
        "eastus",
        "--sku",
        "Standard_LRS",
        "-o",
        "none",
    )
    for share in (OURS_SHARE, BATCH_SHARE):
        az(env, "storage", "share-rm", "create", "--storage-account", ACCOUNT, "-g", GROUP, "-n", share, "-o", "none")
    key = az(env, "storage", "account", "keys", "list", "-g", GROUP, "-n", ACCOUNT, "--query", "[0].value", "-o", "tsv")
    account_url = f"{cloud.url}/{ACCOUNT}"
    batch_env = {
        **env,
        "AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={key};FileEndpoint={account_url}"
        ),
    }
    code, model = prepare_sources(scratch, model_mb)
    ours_env = {**env, "PYTHONPATH": str(REPO)}

    def ours(kind, source):
        return cloud.measure(
            [sys.executable, "-c", OURS, account_url, OURS_SHARE, key, cloud.ca, kind, str(source)], ours_env
        )

    def batch(source, remote):
        return cloud.measure(
            [
                str(AZ),
                "storage",
                "file",
                "upload-batch",
                "--destination",
                BATCH_SHARE,
                "--source",
                str(source),
                "--destination-path",
                remote,
                "--max-connections",
                "8",
                "--only-show-errors",
                "-o",
                "none",
            ],
            batch_env,
        )

    startup = cloud.measure([str(AZ), "version", "-o", "none"], env)[2]
    rows = [
        ("first upload of inference_src/", ours("code", code), batch(code, "inference_src")),
        ("no-op redeploy", ours("code", code), batch(code, "inference_src")),
    ]
    changed = sorted(p for p in code.rglob("*.py"))[0]
    changed.write_text(changed.read_text() + "\n# changed\n")
    rows.append((f"one-file change ({changed.stat().st_size} B)", ours("code", code), batch(code, "inference_src")))
    rows.append((f"{model_mb} MB model folder", ours("model", model), batch(model, "models/base")))
    report(rows, startup, code)


def ratio(ours, theirs):
    return f"{ours / theirs:.3f}" if theirs else "n/a"


def report(rows, startup, code):
    files = [p for p in code.rglob("*") if p.is_file()]
    print(
        f"inference_src/: {len(files)} files, {sum(p.stat().st_size for p in files)} bytes; "
        f"az start-up alone (az version): {startup:.2f} s"
    )
    print(f"{'scenario':34} {'tool':13} {'file bytes':>12} {'requests':>9} {'wall s':>8}")
    for name, ours, batch in rows:
        for tool, (sent, count, seconds, _) in (("aitk sync", ours), ("upload-batch", batch)):
            print(f"{name:34} {tool:13} {sent:12d} {count:9d} {seconds:8.2f}")
        print(
            f"{'':34} {'ratio':13} {ratio(ours[0], batch[0]):>12} {ratio(ours[1], batch[1]):>9} "
            f"{ratio(ours[2], batch[2]):>8}  (wall ratio without az start-up: "
            f"{ratio(ours[2], max(batch[2] - startup, 1e-9))})"
        )
        print(f"{'':34} ours: {ours[3].strip()}")


if __name__ == "__main__":
    main()
