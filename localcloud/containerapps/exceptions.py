"""Container Apps' errors, as the resource provider words them (sources in localcloud/README.md)."""

from __future__ import annotations

from localcloud.arm.exceptions import ArmError


def probe_out_of_range(container: str, probe_type: str, field: str, low: int, high: int) -> ArmError:
    # Code and wording of ContainerAppProbeFailureThresholdOutOfRange (microsoft/azure-container-apps#1100);
    # the other fields' codes follow the same pattern.
    return ArmError(
        400,
        f"ContainerAppProbe{field}OutOfRange",
        f"Container '{container}' '{probe_type}' probe's {field} must be in the range of ['{low}', '{high}'].",
    )


def invalid_resource_total(cpu: float, memory: float, allowed: str) -> ArmError:
    # Wording from Azure/bicep-types-az#1924 and Azure/bicep#10821.
    return ArmError(
        400,
        "ContainerAppInvalidResourceTotal",
        f"The total requested CPU and memory resources for this application (CPU: {cpu:g}, memory: {memory:g}) "
        f"is invalid. Total CPU and memory for all containers defined in a Container App must add up to "
        f"{allowed}",
    )
