"""Where replicas' writable layers go (localcloud.state.StateDir.layers)."""
from pathlib import Path

from localcloud.state import StateDir


def test_layers_sit_beside_the_replica_logs_unless_a_folder_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_LAYERS", raising=False)
    assert StateDir(tmp_path / "cloud").layers == (tmp_path / "cloud" / "replicas").resolve()


def test_each_cloud_gets_a_folder_of_its_own_under_the_given_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_LAYERS", str(tmp_path / "memory"))
    first, second = StateDir(tmp_path / "a" / "cloud").layers, StateDir(tmp_path / "b" / "cloud").layers
    assert first.parent == second.parent == Path(tmp_path / "memory")
    assert first != second and first == StateDir(tmp_path / "a" / "cloud").layers
