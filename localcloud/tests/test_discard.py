"""A replica's writable layer: gone from its path at once, its files deleted in the background, and what a
stopped server left behind deleted by the next one."""
from localcloud.containerapps.discard import discard, sweep
from localcloud.testing import wait_until


def _wait_gone(root, timeout=30.0):
    wait_until(lambda: not any(root.iterdir()), timeout, interval=0.05, what=f"{root} to be emptied")


def _layer(folder):
    (folder / "tmp" / "env").mkdir(parents=True)
    for i in range(200):
        (folder / "tmp" / "env" / f"{i}.py").write_text("x = 1\n")
    return folder


def test_a_discarded_layer_is_gone_at_once_and_its_files_are_deleted(tmp_path):
    replica = tmp_path / "replica"
    layer = _layer(replica / "ephemeral")
    discard(layer)
    assert not layer.exists()
    _wait_gone(replica)
    discard(layer)  # nothing there: nothing to do


def test_sweep_deletes_what_a_stopped_server_left(tmp_path):
    replicas = tmp_path / "replicas"
    left = _layer(replicas / "app--rev-a" / ".discarded-0123")
    kept = _layer(replicas / "app--rev-b" / "ephemeral")
    sweep(replicas)
    _wait_gone(replicas / "app--rev-a")
    assert not left.exists() and (kept / "tmp" / "env" / "0.py").exists()
