"""32 concurrent streaming chat clients for 60 s against the demo model on this machine (loopback
only, bounded in time and count): no 5xx, every 429 carries Retry-After, every stream ends with
[DONE], no client times out, and the server's memory grows less than 10% from the first to the last
10 s. The figures (time to first token p50/p99 among them) go to test-output/hardening-load.txt;
bench/load.py prints the same run on its own."""
import pytest

from tests.hardening.load_run import run_load, start_demo_server
from tests.paths import REPO

CLIENTS, SECONDS = 32, 60


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    server = start_demo_server(tmp_path_factory.mktemp("demo-server") / "server.log")
    yield server
    server.kill()


def test_thirty_two_streaming_clients_for_a_minute_get_answers_or_429_and_memory_stays_flat(demo_server):
    result = run_load(demo_server, CLIENTS, SECONDS)
    report = result.report()
    (REPO / "test-output").mkdir(exist_ok=True)
    (REPO / "test-output" / "hardening-load.txt").write_text(report + "\n")
    print(report)

    statuses = result.by_status()
    assert set(statuses) <= {"200", "429"}, report  # no 5xx, no transport error, no timeout
    assert all(r.retry_after for r in result.replies if r.status == 429), report
    assert result.answers and all(r.stream_done for r in result.answers), report
    assert result.memory_growth() < 0.10, report
    assert "Traceback" not in demo_server.log_text()
