"""ARM failures -> one line with the ARM code and, for the ones users hit, how to fix them.

Commands wrap their ARM calls in `with arm_errors("what is being done"):`, the one place where
an SDK HttpResponseError becomes an az error."""
from contextlib import contextmanager

from azure.cli.core.azclierror import AzureResponseError

GPU_REGIONS = "West US 3, Australia East, Sweden Central (T4 and A100) or West Europe (T4)"

# (codes or code fragments, hint): the first match on any code in the error tree wins.
HINTS = (
    (("quota",),
     "the subscription lacks GPU quota for this profile in this region: request it (portal: "
     "Quotas > Azure Container Apps > Managed Environment Consumption/Dedicated GPUs), or pick "
     "another profile with --parameters gpuProfileType=Consumption-GPU-NC8as-T4 or another "
     "--location, or lower maximumInstanceCount"),
    (("workloadprofile", "locationnotavailable", "notavailableinregion", "skunotavailable",
      "unsupportedlocation"),
     f"serverless GPUs are offered in a few regions only ({GPU_REGIONS}): pass --location with "
     "one of them (a new resource group there), or choose another gpuProfileType"),
    (("storageaccountalreadytaken", "storageaccountalreadyexists", "accountnameinvalid"),
     "storage account names are global across Azure: pass --parameters storageAccountName="
     "<a unique name of 3-24 lowercase letters and digits> (or the fine-tuning account's name)"),
    (("missingsubscriptionregistration", "noregisteredproviderfound",
      "subscriptionnotregistered"),
     "register the resource providers once: az provider register --namespace Microsoft.App "
     "--wait (and Microsoft.OperationalInsights, Microsoft.Storage)"),
)


def _codes_and_messages(error):
    """Walk an ARM error tree (error.details, nested) depth first, innermost last."""
    stack = [error]
    while stack:
        node = stack.pop(0)
        if node is None:
            continue
        code = getattr(node, "code", None) or (node.get("code") if isinstance(node, dict) else None)
        message = getattr(node, "message", None) or (
            node.get("message") if isinstance(node, dict) else None)
        yield code or "", message or ""
        details = getattr(node, "details", None) or (
            node.get("details") if isinstance(node, dict) else None) or []
        stack.extend(details)


def hint_for(codes):
    lowered = [c.lower() for c in codes]
    for fragments, hint in HINTS:
        if any(f in code for code in lowered for f in fragments):
            return hint
    return None


def arm_error(action, exception):
    """An az error for a failed ARM call: the most specific code and message, plus a hint."""
    error = getattr(exception, "error", None)
    pairs = [(c, m) for c, m in _codes_and_messages(error) if c] if error is not None else []
    if not pairs:
        pairs = [(getattr(exception, "reason", "") or "Error", str(exception))]
    code, message = pairs[-1]
    message = " ".join(message.split())
    hint = hint_for([c for c, _ in pairs] + [message])
    text = f"{action} failed: {code}: {message}"
    return AzureResponseError(text + (f" Fix: {hint}" if hint else ""))


@contextmanager
def arm_errors(action):
    """Any HttpResponseError inside becomes one az error line (see `arm_error`)."""
    from azure.core.exceptions import HttpResponseError
    try:
        yield
    except HttpResponseError as ex:
        raise arm_error(action, ex) from None
