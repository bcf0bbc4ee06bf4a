import pytest

from demo.asset_cache import build_cached


def _writer(calls: list, text: str):
    def build(folder):
        calls.append(text)
        (folder / "asset.txt").write_text(text)
        return {"text": text}

    return build


def test_same_inputs_reuse_the_folder_and_its_summary(tmp_path):
    calls = []
    first = build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer(calls, "one"))
    again = build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer(calls, "two"))
    assert (first.reused, again.reused) == (False, True)
    assert calls == ["one"]
    assert again.summary == {"text": "one"}
    assert (tmp_path / "thing" / "asset.txt").read_text() == "one"


def test_changed_inputs_replace_the_folder(tmp_path):
    calls = []
    build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer(calls, "one"))
    rebuilt = build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 2}, _writer(calls, "two"))
    assert not rebuilt.reused
    assert (tmp_path / "thing" / "asset.txt").read_text() == "two"


def test_folder_edited_since_the_build_is_rebuilt(tmp_path):
    calls = []
    build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer(calls, "one"))
    (tmp_path / "thing" / "asset.txt").unlink()
    rebuilt = build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer(calls, "one"))
    assert not rebuilt.reused
    assert calls == ["one", "one"]


def test_failed_build_keeps_the_previous_folder(tmp_path):
    build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer([], "one"))

    def broken(folder):
        (folder / "asset.txt").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 2}, broken)
    assert (tmp_path / "thing" / "asset.txt").read_text() == "one"
    assert build_cached(tmp_path, "thing", tmp_path / "thing", {"v": 1}, _writer([], "x")).reused
