"""The README's install section, run as written by a Cloud Shell user: clone, build the wheel,
add it to az. Only the clone URL is swapped for this repository (its committed state)."""
import json
import os
import re
import subprocess

from tests.paths import REPO

CLONE_URL = "https://github.com/aitk-infer/aitk-infer.git"


def install_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Install the extension"):]
    section = section[:section.index("\n## ", 1)]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_install_commands_build_and_add_the_extension(tmp_path):
    commands = install_commands()
    assert commands[0] == f"git clone {CLONE_URL}", commands
    remote = tmp_path / "remote" / "aitk-infer.git"  # named as on GitHub, so the clone's folder is too
    subprocess.run(["git", "clone", "--quiet", "--bare", str(REPO), str(remote)], check=True, timeout=120)
    script = "set -e\n" + "\n".join(commands).replace(CLONE_URL, str(remote))
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
           "AZURE_EXTENSION_DIR": str(tmp_path / "extensions"), "AZURE_CONFIG_DIR": str(tmp_path / "config"),
           "AZURE_CORE_COLLECT_TELEMETRY": "false"}
    (tmp_path / "home").mkdir()
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path / "home", env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = subprocess.run(["az", "extension", "show", "--name", "aitk-infer", "-o", "json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert json.loads(shown.stdout)["version"] == re.search(
        r'^VERSION = "(.+)"', (REPO / "setup.py").read_text(), re.M).group(1)
    assert (tmp_path / "extensions" / "aitk-infer" / "pathspec").is_dir()  # its dependency came along
    help_text = subprocess.run(["az", "aitk-infer", "-h"], env=env, capture_output=True, text=True, timeout=120)
    assert "provision" in help_text.stdout and "wait" in help_text.stdout
