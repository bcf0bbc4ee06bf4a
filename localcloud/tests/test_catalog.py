"""localcloud/README.md lists exactly the operations the route tables serve and the images localcloud runs."""

from __future__ import annotations

from pathlib import Path

from localcloud import catalog
from localcloud.containerapps import images
from localcloud.server import LocalCloud, cloud_settings
from localcloud.state import StateDir, StateFile

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(name: str) -> str:
    return README.read_text().split(f"<!-- {name}:begin -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0]


def test_readme_lists_exactly_the_operations_the_url_tables_route():
    assert _section("operations") == catalog.markdown(), "regenerate the table: python -m localcloud.catalog"


def test_readme_lists_exactly_the_images_localcloud_runs():
    assert _section("images") == images.markdown(), "regenerate it: localcloud.containerapps.images.markdown()"


def test_catalog_names_every_resource_type_the_server_registers(tmp_path):
    state_dir = StateDir(tmp_path)
    cloud_settings(StateFile(state_dir.state_file), port=1)  # a cloud that is built, never served
    served = set(LocalCloud(state_dir).backend.kinds)
    assert served == {kind.type_name.lower() for kind in catalog.RESOURCE_KINDS}
