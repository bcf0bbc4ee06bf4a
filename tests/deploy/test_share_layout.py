"""The share layout is defined once, in share_bootstrap.py (standard library only, uploaded as the
container's start command); the extension, the template's start command and the container's start
read it from there. These tests fail when one of them spells it again, differently."""
import json
import re

import pytest

from azext_aitkinfer import codeversions, deploy
from azext_aitkinfer import share_bootstrap as layout
from azext_aitkinfer.codeversions import deploy_code, version_files, version_id
from azext_aitkinfer.local_tree import scan_tree
from tests.paths import REPO

INFERENCE_SRC = REPO / "inference_src"


def test_the_extension_builds_every_share_path_from_the_bootstrap_names():
    assert (codeversions.ROOT, codeversions.OBJECTS, codeversions.VERSIONS, codeversions.POINTER,
            codeversions.BOOTSTRAP) == (
        layout.ROOT, f"{layout.ROOT}/{layout.OBJECTS}", f"{layout.ROOT}/{layout.VERSIONS}",
        f"{layout.ROOT}/{layout.POINTER}", f"{layout.ROOT}/{layout.BOOTSTRAP}")
    assert codeversions.ENTRYPOINT == deploy.ENTRYPOINT == layout.ENTRYPOINT


def test_no_extension_module_spells_a_layout_name_itself():
    spelled = re.compile(r"""["'](objects|versions|current|envs|bootstrap\.py|launch\.sh)["']""")
    offenders = [path.name for path in (REPO / "azext_aitkinfer").glob("*.py")
                 if path.name != "share_bootstrap.py" and spelled.search(path.read_text())]
    assert offenders == []


def test_ids_a_deploy_writes_are_ids_the_bootstrap_accepts(tmp_path):
    (tmp_path / "launch.sh").write_text("echo hi\n")
    files = version_files(scan_tree(tmp_path))
    assert layout.VERSION_ID.fullmatch(version_id(files))
    assert all(layout.OBJECT_ID.fullmatch(entry["sha256"]) for entry in files.values())


def test_a_deploy_refuses_a_folder_with_more_files_than_the_bootstrap_starts(share, tmp_path, monkeypatch):
    from azure.cli.core.azclierror import FileOperationError
    for name in ("launch.sh", "a.py", "b.py"):
        (tmp_path / name).write_text(name)
    monkeypatch.setattr(layout, "MAX_FILES", 2)
    with pytest.raises(FileOperationError, match="3 files, more than the 2 the container starts"):
        deploy_code(share, tmp_path)


def test_the_templates_start_command_runs_the_bootstrap_in_its_share_folder():
    params = json.loads((REPO / "infra/provision/inference.parameters.json").read_text())
    statements = params["parameters"]["defaultCommands"]["value"]
    assert statements[1:] == [f"cd /mount/{layout.ROOT}", f"exec python3 {layout.BOOTSTRAP}"]
    assert f"/mount/{layout.ROOT}/{layout.BOOTSTRAP}" in statements[0]


def test_the_container_start_reads_the_layout_only_from_the_variables_the_bootstrap_sets():
    start = "".join(path.read_text() for path in sorted((INFERENCE_SRC / "aitk_start").glob("*.py")))
    launch = (INFERENCE_SRC / layout.ENTRYPOINT).read_text()
    given = {layout.ENV_CODE_ROOT, layout.ENV_ENVIRONMENTS, layout.ENV_LOCAL_ROOT, layout.ENV_VERSION}
    read = set(re.findall(r"AITK_[A-Z_]+", start + launch))
    assert {layout.ENV_ENVIRONMENTS, layout.ENV_LOCAL_ROOT} <= read
    # Besides the layout's variables: the image (template), the listen address (server setting) and
    # the interpreter override of launch.sh.
    assert read - given == {"AITK_IMAGE", "AITK_HOST", "AITK_PYTHON"}
    assert not re.search(r"/(objects|versions|envs)\b|aitk-infer/", start + launch)


def test_the_start_line_deploy_waits_on_is_the_one_the_bootstrap_prints(tmp_path, monkeypatch, capsys):
    from azext_aitkinfer.readiness import failure_in_log
    monkeypatch.setattr(layout, "FAILURE_PAUSE_S", 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / layout.POINTER).write_text("0123456789abcdef\n")
    layout.main()
    printed = capsys.readouterr().out.splitlines()
    assert failure_in_log(printed, "0123456789abcdef").startswith("manifest versions/0123456789abcdef.json is missing")
