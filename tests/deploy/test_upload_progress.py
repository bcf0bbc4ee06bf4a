"""Upload progress through az's real progress controller: parallel range uploads of a multi-chunk
file must report bytes that never go back and never pass the total (az asserts both)."""
import io
import os
import re

import pytest
from azure.cli.core import get_default_cli
from azure.cli.core.commands import progress as az_progress

from azext_aitkinfer.codeversions import deploy_code
from azext_aitkinfer.deploy import DeployProgress
from azext_aitkinfer.folder_mirror import sync_folder
from azext_aitkinfer.share_files import RANGE_BYTES, Progress
from tests.deploy.conftest import write_tree

BAR_PERCENT = re.compile(r"\]\s+(\d+\.\d+)%")


@pytest.fixture
def stderr(monkeypatch):
    """What az's progress views write: they bind sys.stderr at import time, so the test hands
    them a stream of its own."""
    stream = io.StringIO()
    monkeypatch.setattr(az_progress.get_progress_view, "__defaults__", (False, stream, None))
    return stream


def percents(stderr):
    return [float(p) for p in BAR_PERCENT.findall(stderr)]


def test_parallel_chunk_uploads_show_monotonic_bounded_progress_on_az_controller(share, tmp_path, stderr):
    workers = 4
    model = write_tree(tmp_path / "base", {
        "model.safetensors": os.urandom(6 * workers * RANGE_BYTES // 4 + 12345),  # 6 ranges, 4 at once
        "shard-2.safetensors": os.urandom(workers * RANGE_BYTES // 2),  # with others, 2 ranges each
        "config.json": "{}", "tokenizer.json": "{}" * 1000})
    code = write_tree(tmp_path / "code", {"launch.sh": "true\n", "big.bin": os.urandom(3 * RANGE_BYTES)})
    progress = DeployProgress(get_default_cli())
    deploy_code(share, code, progress=progress.bytes, workers=workers)
    sync_folder(share, model, "model-cache/base", progress=progress.bytes, workers=workers)
    progress.end()
    code_and_model = percents(stderr.getvalue())
    split = code_and_model.index(100.0) + 1
    for upload in (code_and_model[:split], code_and_model[split:]):
        assert len(upload) > 3 and upload == sorted(upload) and upload[-1] == 100.0, upload


def test_a_file_total_reported_twice_or_late_by_two_threads_counts_once():
    """What the SDK's range threads do: the same running total twice, an older one after a newer."""
    reports = []
    counter = Progress(total=300, callback=lambda done, total: reports.append((done, total)))
    first, second = counter.hook(200), counter.hook(100)
    for hook, current in ((first, 100), (first, 100), (first, 200), (first, 150), (second, 100),
                          (second, 250)):
        hook(current, None)
    assert reports == [(100, 300), (200, 300), (300, 300)]


def test_waiting_for_ready_shows_the_state_without_a_percentage(stderr):
    progress = DeployProgress(get_default_cli())
    progress.bytes(5, 10)
    progress.bytes(10, 10)
    progress.message("Waiting for rev-1: Activating, /ready HTTP 503 (4 s)")
    progress.end()
    written = stderr.getvalue()
    waiting = written[written.rindex("100.0000%") + len("100.0000%"):]
    assert "%" not in waiting and "[]" not in written
