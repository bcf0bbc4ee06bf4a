"""The wheel: version in step with HISTORY.rst, bundled project files, nothing else."""
import re
import zipfile

from tests.paths import REPO


def _version():
    return re.search(r'^VERSION = "(.+)"$', (REPO / "setup.py").read_text(), re.M).group(1)


def test_setup_version_is_the_newest_history_entry():
    history = (REPO / "HISTORY.rst").read_text().splitlines()
    entries = [history[i - 1] for i, line in enumerate(history) if re.fullmatch(r"\++", line)]
    assert entries and entries[0] == _version()


def test_wheel_holds_the_extension_and_the_bundled_project_only():
    wheel = REPO / "dist" / f"aitk_infer-{_version()}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"azext_aitkinfer", f"aitk_infer-{_version()}.dist-info"}
    assert "azext_aitkinfer/azext_metadata.json" in names
    for rel in ("infra/provision/inference.bicep", "infra/provision/inference.json",
                "inference_src/requirements.txt"):
        assert f"azext_aitkinfer/bundled/{rel}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "inference.config.json" in n]


def _metadata():
    wheel = REPO / "dist" / f"aitk_infer-{_version()}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        text = archive.read(f"aitk_infer-{_version()}.dist-info/METADATA").decode()
    headers, _, body = text.partition("\n\n")
    return headers.splitlines(), body, names


def test_a_preview_extension_is_numbered_as_az_wants_preview_versions():
    """azure-cli's rule for preview extensions: x.y.zbN (1.0.0b1 first)."""
    assert re.fullmatch(r"\d+\.\d+\.\d+b\d+", _version())


def test_wheel_metadata_has_licence_python_requires_and_an_rst_description_that_renders():
    from readme_renderer.rst import render
    headers, body, names = _metadata()
    assert "Classifier: License :: OSI Approved :: MIT License" in headers
    assert "License-File: LICENSE" in headers and any(n.endswith("/LICENSE") for n in names)
    assert any(h.startswith("Requires-Python: >=3.") for h in headers)
    assert "Description-Content-Type: text/x-rst" in headers
    assert "Release History" in body and "make test" not in body  # README.rst + HISTORY, not the repo README
    assert render(body) is not None  # None: reStructuredText errors, as `twine check` reports
