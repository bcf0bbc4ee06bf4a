"""deploy's wait: which /ready answer counts as the new version, and which log says it never will."""
import pytest

from azext_aitkinfer.readiness import Snapshot, failure_in_log, serves_the_new_version

NEW, OLD = "1111111111111111", "0000000000000000"
BEFORE = Snapshot(starts={"app--rev-x": ("2026-11-30T06:00:00Z", 0)}, served=OLD)


@pytest.mark.parametrize(("starts", "ready", "served", "counts"), [
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 0)}, True, NEW, True),    # same name, same start: the version says
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 1)}, True, NEW, True),    # same name, restarted
    ({"app--rev-y": ("2026-11-30T06:05:00Z", 0)}, True, NEW, True),    # a new replica
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 0)}, True, OLD, False),   # the old version still answers
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 1)}, False, NEW, False),  # not ready yet
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 0)}, True, None, False),  # no version, no restart
    ({"app--rev-x": ("2026-11-30T06:00:00Z", 1)}, True, None, True),   # no version, restarted
])
def test_a_ready_replica_counts_when_it_serves_the_new_version_whatever_its_name(starts, ready, served, counts):
    assert serves_the_new_version(BEFORE, starts, ready, served, NEW) is counts


def test_redeploying_the_active_version_waits_for_a_restart():
    same = Snapshot(starts=BEFORE.starts, served=NEW)
    assert not serves_the_new_version(same, BEFORE.starts, True, NEW, NEW)
    assert serves_the_new_version(same, {"app--rev-x": ("2026-11-30T06:00:00Z", 1)}, True, NEW, NEW)


def test_the_log_says_why_the_last_start_of_this_version_failed():
    log = [
        f"aitk-infer: starting version {OLD}",
        "aitk-infer: not ready: an old reason",
        f"aitk-infer: starting version {NEW}",
        "aitk-infer: environment abc unpacked from the share in 3.0 s",
        "2026-11-30 06:26:26,726 ERROR aitk_serve: not ready: no adapter_config.json under /mount/models",
    ]
    assert failure_in_log(log, NEW) == "no adapter_config.json under /mount/models"
    assert failure_in_log(log[:2], NEW) is None  # another version's failure is not this deploy's
    assert failure_in_log(log[:4], NEW) is None  # still starting
    assert failure_in_log(log + [f"aitk-infer: starting version {NEW}"], NEW) is None  # a newer start


def test_a_version_the_bootstrap_refuses_is_a_failed_start():
    log = [f"aitk-infer: starting version {NEW}",
           f"aitk-infer: refusing to start version {NEW}: object abc is missing. Fix: run 'az aitk-infer deploy' again"]
    assert failure_in_log(log, NEW).startswith("object abc is missing")
