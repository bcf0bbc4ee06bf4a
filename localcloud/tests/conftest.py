"""Fixtures for the localcloud tests: one local cloud per session, with an environment that mounts a share."""

from __future__ import annotations

import pytest

from localcloud.testing import Cloud, session_cloud
from localcloud.tests.replicas import Environment, build_environment


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    with session_cloud(tmp_path_factory.mktemp("localcloud-state")) as started:
        yield started


@pytest.fixture(scope="session")
def environment(cloud: Cloud) -> Environment:
    return build_environment(cloud)
