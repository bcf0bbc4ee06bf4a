"""Deploy's unhappy paths and the logs command, through the real az on the local cloud."""
import shutil
import subprocess
import time

from localcloud.testing import error_lines
from tests.paths import REPO


def test_timeout_prints_the_log_tail_and_how_to_see_more(served, tmp_path):
    broken = shutil.copytree(served.root / "inference_src", tmp_path / "broken",
                             ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "launch.sh").write_text('echo "aitk-test: the server cannot start"\nexit 3\n')
    result = served.az("aitk-infer", "deploy", "--source", str(broken), "--timeout", "8",
                       check=False)
    lines = error_lines(result.stderr)
    assert result.returncode != 0
    assert "aitk-test: the server cannot start" in result.stderr  # the replica's log tail
    assert lines[-1].startswith("ERROR: The endpoint was not ready after 8 s")
    assert "az aitk-infer logs --follow" in lines[-1]
    assert "Traceback" not in result.stderr
    # Back to the good version for the other tests.
    assert served.az_json("aitk-infer", "deploy", "--rollback", "--timeout", "240")["ready"]


def test_logs_shows_the_tail_of_the_replica_log(served):
    result = served.az("aitk-infer", "logs", "--tail", "50")
    assert "aitk-infer: starting version" in result.stdout
    assert result.stderr.count("ERROR") == 0


def test_logs_follow_streams_until_stopped(served):
    process = subprocess.Popen([str(REPO / ".venv/bin/az"), "aitk-infer", "logs", "--follow",
                                "--tail", "5"], cwd=served.root, env=served.cloud.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.strip(), "no log line arrived"
        time.sleep(1)
        assert process.poll() is None  # still following
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_logs_tail_out_of_range_is_refused(served):
    result = served.az("aitk-infer", "logs", "--tail", "301", check=False)
    assert result.returncode != 0
    assert error_lines(result.stderr) == ["ERROR: --tail 301: must be between 0 and 300 (the log "
                                          "stream's limit)"]


def test_bad_adapter_folder_uploads_nothing(served, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{not json")
    before = served.az_json("aitk-infer", "deploy", "--no-restart")["code"]["version"]
    result = served.az("aitk-infer", "deploy", "--adapter-dir", str(adapter), check=False)
    lines = error_lines(result.stderr)
    assert result.returncode != 0 and len(lines) == 1
    assert "adapter_config.json: invalid JSON at line 1 column 2" in lines[0]
    assert served.az_json("aitk-infer", "deploy", "--no-restart")["code"]["version"] == before
