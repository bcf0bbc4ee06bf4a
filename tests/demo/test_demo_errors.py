import pytest

from demo.errors import DemoAssetError, installed_versions, require_module


def test_missing_distribution_names_the_pip_command():
    with pytest.raises(DemoAssetError, match=r"run: pip install aitk-no-such-dist==1\.0$"):
        installed_versions({"aitk-no-such-dist": "aitk-no-such-dist==1.0"})


def test_missing_module_names_the_pip_command():
    with pytest.raises(DemoAssetError, match=r"'aitk_no_such_module': run: pip install --no-deps thing==2$"):
        require_module("aitk_no_such_module", "--no-deps thing==2")


def test_installed_versions_are_read_without_importing():
    assert installed_versions({"peft": "peft==0.21.2"}) == {"peft": "0.21.2"}
