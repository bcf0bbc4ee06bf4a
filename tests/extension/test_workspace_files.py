"""Malformed project files give one clear line through the real az, and are never changed."""
import json
import os

import pytest

from localcloud.testing import error_lines, run_az

GOOD_CONFIG = {"SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
               "RESOURCE_GROUP_NAME": "rg", "STORAGE_ACCOUNT_NAME": "aistorage12345",
               "FILE_SHARE_NAME": "aifileshare12345", "ACA_APP_NAME": "aiacaapp12345",
               "ACA_APP_ENDPOINT": "aiacaapp12345.example.azurecontainerapps.io"}

# (case id, bytes written to infra/inference.config.json or None for special setup, expected
#  fragment of the one error line)
MALFORMED = [
    ("syntax-error", b'{"ACA_APP_ENDPOINT": "x",\n  "ACA_APP_NAME" "y"}',
     "invalid JSON at line 2 column 18"),
    ("trailing-comma", b'{"ACA_APP_ENDPOINT": "x",}', "invalid JSON at line 1 column 26"),
    ("wrong-type", json.dumps({**GOOD_CONFIG, "ACA_APP_ENDPOINT": 42}).encode(),
     "key 'ACA_APP_ENDPOINT' must be a string, got a number"),
    ("top-level-array", b'["ACA_APP_ENDPOINT"]', "expected a JSON object"),
    ("missing-endpoint", json.dumps({k: v for k, v in GOOD_CONFIG.items()
                                     if k != "ACA_APP_ENDPOINT"}).encode(),
     "ACA_APP_ENDPOINT missing or empty. Fix: run 'az aitk-infer provision'"),
    ("empty-endpoint", json.dumps({**GOOD_CONFIG, "ACA_APP_ENDPOINT": ""}).encode(),
     "ACA_APP_ENDPOINT missing or empty"),
    ("seed-placeholder", json.dumps({**GOOD_CONFIG, "ACA_APP_ENDPOINT": "<your-aca-endpoint>"}
                                    ).encode(), "ACA_APP_ENDPOINT missing or empty"),
    ("empty-file", b"", "file is empty"),
    ("whitespace-only", b"  \n\t\n", "file is empty"),
    ("invalid-utf8", b'{"ACA_APP_ENDPOINT": "caf\xe9"}', "not valid UTF-8 (byte 25)"),
    ("missing-file", None, "file not found. Fix: run 'az aitk-infer provision'"),
    ("directory", None, "is a directory, expected a JSON file"),
]


def _write_case(root, case, content):
    config = root / "infra" / "inference.config.json"
    config.parent.mkdir(parents=True)
    if case == "directory":
        config.mkdir()
    elif content is not None:
        config.write_bytes(content)
    return config


def _snapshot(root):
    return {p: (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case,content,expected", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_config_gives_one_line_error_and_changes_nothing(tmp_path, case, content,
                                                                   expected):
    _write_case(tmp_path, case, content)
    before = _snapshot(tmp_path)
    result = run_az("aitk-infer", "show-endpoint", cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ERROR: ") and expected in lines[0], lines[0]
    assert "inference.config.json" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert _snapshot(tmp_path) == before


def test_unreadable_config_names_the_file_and_permissions(tmp_path):
    config = _write_case(tmp_path, "unreadable", json.dumps(GOOD_CONFIG).encode())
    config.chmod(0)
    if os.access(config, os.R_OK):  # root reads anything: make the path unreadable another way
        config.unlink()
        config.symlink_to(config)  # a symlink loop raises an OSError that is not "not found"
    result = run_az("aitk-infer", "show-endpoint", cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "inference.config.json: cannot be read" in lines[0]


def test_unknown_keys_warn_and_a_bom_is_accepted(tmp_path):
    config = _write_case(tmp_path, "bom", b"\xef\xbb\xbf" + json.dumps(
        {**GOOD_CONFIG, "MY_NOTE": "keep me"}).encode())
    before = config.read_bytes()
    result = run_az("aitk-infer", "show-endpoint", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unknown key 'MY_NOTE' (kept as is)" in result.stderr
    assert json.loads(result.stdout)["endpoint"] == f"https://{GOOD_CONFIG['ACA_APP_ENDPOINT']}"
    assert config.read_bytes() == before


def test_no_project_folder_says_how_to_get_one(tmp_path):
    result = run_az("aitk-infer", "show-endpoint", cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "No AI Toolkit project in" in lines[0] and "az aitk-infer init" in lines[0]
