"""One deploy at a time per share: a Lease Share held for the whole write phase of a deploy.

Why a share lease (and not a Lease File on a lock file): Azure Files leases a share for 15-60 s, and
a fixed lease ends by itself when its holder stops renewing it, so a deploy that is killed frees the
share within LEASE_S with no stale-holder rule; a file lease is infinite only (Lease Share and Lease
File in the Azure Files REST reference). The token path (share_access.py, for accounts with shared
keys off) can take it too: Azure Files accepts OAuth for share-management calls such as Lease Share
from REST version 2024-11-04 (learn.microsoft.com/azure/storage/files/authorize-oauth-rest), and the
storage SDK sends a later one, with the backup intent on every call of the ShareClient.
"""
import threading
import time
from contextlib import contextmanager

from azure.cli.core.azclierror import AzureResponseError
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.fileshare import ShareLeaseClient
from knack.log import get_logger

from .share_files import share_errors

logger = get_logger(__name__)

LEASE_S = 30  # how long a killed deploy blocks the share at most
RENEW_EVERY_S = 10  # three tries to renew before the lease runs out
POLL_S = 3  # while waiting for another deploy
_HELD_BY_A_DEPLOY = ("LeaseAlreadyPresent", "LeaseIsBreakingAndCannotBeAcquired")


class HeldLease:
    """The lease while this deploy holds it, renewed in the background. ensure_held() renews it at
    once and raises unless this deploy still holds the share: called just before the pointer switch."""

    def __init__(self, lease, share_name):
        self._lease, self._share_name = lease, share_name
        self._renewing = threading.Lock()  # one renew at a time: the client keeps the lease's state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="aitk-infer deploy lock", daemon=True)

    def _renew(self):
        with self._renewing:
            self._lease.renew()

    def _keep(self):
        while not self._stop.wait(RENEW_EVERY_S):
            try:
                self._renew()
            except AzureError as ex:  # the next round tries again; ensure_held() has the last word
                logger.debug("renewing the deploy lock on share '%s' failed: %s", self._share_name,
                             getattr(ex, "error_code", None) or type(ex).__name__)

    def ensure_held(self):
        try:
            self._renew()
        except AzureError as ex:
            reason = getattr(ex, "error_code", None) or type(ex).__name__
            raise AzureResponseError(
                f"share '{self._share_name}': this deploy lost its lock on the share ({reason}), so it stops "
                "before switching versions; what it uploaded stays unused. Fix: check the network and run "
                "'az aitk-infer deploy' again") from None

    def start(self):
        self._thread.start()

    def end(self):
        """Stop renewing and release, so a waiting deploy goes on at once."""
        self._stop.set()
        self._thread.join()
        try:
            self._lease.release()
        except AzureError:  # it runs out within LEASE_S anyway
            logger.debug("releasing the deploy lock on share '%s' failed; it ends within %d s",
                         self._share_name, LEASE_S)


@contextmanager
def deploy_lock(share, wait_s):
    """Hold the share's lease for the block; wait up to `wait_s` for another deploy holding it."""
    lease = ShareLeaseClient(share)
    _acquire(share, lease, wait_s)
    held = HeldLease(lease, share.share_name)
    held.start()
    try:
        yield held
    finally:
        held.end()


def _acquire(share, lease, wait_s):
    """Take the lease, waiting while another deploy holds it."""
    deadline = time.monotonic() + wait_s
    said = False
    with share_errors(f"locking share '{share.share_name}' for this deploy"):
        while True:
            try:
                lease.acquire(lease_duration=LEASE_S)
                return
            except ResourceExistsError as ex:
                if ex.error_code not in _HELD_BY_A_DEPLOY:
                    raise
            _refuse_foreign_lease(share)
            if not said:
                logger.warning("another deploy to share '%s' is running; waiting for it (up to %d s)",
                               share.share_name, wait_s)
                said = True
            if time.monotonic() + POLL_S > deadline:
                raise AzureResponseError(
                    f"share '{share.share_name}': another deploy still holds it after {wait_s} s. Fix: let it "
                    "finish, then run 'az aitk-infer deploy' again (a deploy that was stopped frees the share "
                    f"within {LEASE_S} s by itself), or wait longer with --timeout")
            time.sleep(POLL_S)


def _refuse_foreign_lease(share):
    """Deploys take fixed leases; an infinite one is another tool's, and never ends by itself."""
    lease = share.get_share_properties().lease
    if lease.duration == "infinite" and lease.state == "leased":
        raise AzureResponseError(
            f"share '{share.share_name}' has an infinite lease, which no deploy takes: another tool locked "
            "it. Fix: have its owner release it (or break it: Lease Share with x-ms-lease-action: break), "
            "then run 'az aitk-infer deploy' again")
