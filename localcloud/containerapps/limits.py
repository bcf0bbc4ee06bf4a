"""Container Apps' limits checked when an app is created or updated: probe values and the cpu/memory
a workload profile type accepts. Sources are cited in localcloud/README.md ("Limits")."""

from __future__ import annotations

from localcloud.arm.exceptions import invalid_request
from localcloud.containerapps import exceptions

# ContainerAppProbe in the 2025-01-01 schema; failureThreshold per probe type as the service accepts
# it (hashicorp/terraform-provider-azurerm#31989 matched these to the API; the schema text says 10).
_RANGES = {"InitialDelaySeconds": (1, 60), "PeriodSeconds": (1, 240), "TimeoutSeconds": (1, 240)}
_FAILURE_THRESHOLD = {"Liveness": (1, 30), "Readiness": (1, 48), "Startup": (1, 240)}

# Consumption: 0.25 to 4 vCPU in steps of 0.25 with 2 GiB per vCPU (workload-profiles-overview:
# "Consumption 0.25-4 vCPU, 0.5-8 GiB"; the pairs listed by ContainerAppInvalidResourceTotal).
CONSUMPTION_PAIRS = [(q / 4, q / 2) for q in range(1, 17)]
# Serverless GPU profiles: the replica size the docs give (workload-profiles-overview); no public
# evidence of smaller sizes, so only the whole size is accepted.
GPU_CONSUMPTION = {"Consumption-GPU-NC8as-T4": (8.0, 56.0), "Consumption-GPU-NC24-A100": (24.0, 220.0)}
# Dedicated profiles: up to the node's size (workload-profiles-overview, allocation "per node").
DEDICATED = {
    "D4": (4, 16), "D8": (8, 32), "D16": (16, 64), "D32": (32, 128),
    "E4": (4, 32), "E8": (8, 64), "E16": (16, 128), "E32": (32, 256),
    "NC24-A100": (24, 220), "NC48-A100": (48, 440), "NC96-A100": (96, 880),
}
PROFILE_TYPES = {"Consumption", *GPU_CONSUMPTION, *DEDICATED}
_DEFAULT_CPU, _DEFAULT_MEMORY = 0.5, 1.0  # per container when resources are left out (containers docs)


def check_probes(container: dict) -> None:
    for probe in container.get("probes") or []:
        probe_type = str(probe.get("type", "Liveness")).capitalize()
        ranges = {**_RANGES, "FailureThreshold": _FAILURE_THRESHOLD.get(probe_type, (1, 30))}
        for field, (low, high) in ranges.items():
            key = field[0].lower() + field[1:]
            if key in probe and not (isinstance(probe[key], int) and low <= probe[key] <= high):
                raise exceptions.probe_out_of_range(container.get("name", ""), probe_type, field, low, high)


def _memory_gib(value, where: str) -> float:
    text = str(value)
    if not text.endswith("Gi"):
        raise invalid_request(f"{where}.resources.memory '{text}' must be in Gi, e.g. '2Gi'.")
    try:
        return float(text[:-2])
    except ValueError:
        raise invalid_request(f"{where}.resources.memory '{text}' must be a number of Gi, e.g. '2Gi'.") from None


def check_resources(containers: list[dict], profile_type: str) -> None:
    cpu = memory = 0.0
    for i, container in enumerate(containers):
        resources = container.get("resources") or {}
        try:
            cpu += float(resources.get("cpu", _DEFAULT_CPU))
        except (TypeError, ValueError):
            raise invalid_request(f"properties.template.containers[{i}].resources.cpu must be a number.") from None
        memory += _memory_gib(resources.get("memory", f"{_DEFAULT_MEMORY}Gi"), f"properties.template.containers[{i}]")
    if profile_type in DEDICATED:
        max_cpu, max_memory = DEDICATED[profile_type]
        if 0 < cpu <= max_cpu and 0 < memory <= max_memory:
            return
        allowed = f"at most [cpu: {max_cpu}, memory: {max_memory}Gi] on a {profile_type} workload profile."
    else:
        pairs = [GPU_CONSUMPTION[profile_type]] if profile_type in GPU_CONSUMPTION else CONSUMPTION_PAIRS
        if any(abs(cpu - c) < 1e-9 and abs(memory - m) < 1e-9 for c, m in pairs):
            return
        allowed = "one of the following CPU - Memory combinations: " + "; ".join(
            f"[cpu: {c:g}, memory: {m:.1f}Gi]" for c, m in pairs
        )
    raise exceptions.invalid_resource_total(cpu, memory, allowed)
