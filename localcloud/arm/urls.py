"""ARM's route table: every path ARM answers under /metadata, /tenants and /subscriptions, in match order.

Resource types themselves are not listed here: every type registered by a service (its urls.py
``resource_kinds``) is served by the generic resource routes at the end.
"""

from __future__ import annotations

from localcloud.routing import Route

SUB = "/subscriptions/{subscription}"
GROUP = SUB + "/resourceGroups/{group}"
DEPLOYMENT = GROUP + "/providers/Microsoft.Resources/deployments/{deployment}"
PROVIDER = SUB + "/providers/{namespace}"

routes = [
    Route(("GET",), "/metadata/endpoints", "metadata", "cloud metadata `az cloud register` reads (no auth)"),
    Route(("GET",), "/tenants", "tenants", "tenants of the login"),
    Route(("GET",), "/subscriptions", "subscriptions", "subscriptions of the login"),
    Route(("GET",), SUB, "subscription", "one subscription"),
    Route(("GET",), SUB + "/locations", "locations", "locations (one: eastus)"),
    Route(("GET",), SUB + "/operationresults/{operation}", "operation_result", "resource group delete poll"),
    Route(("GET",), SUB + "/providers", "providers", "resource providers"),
    Route(("GET",), PROVIDER, "provider", "one resource provider"),
    Route(("POST",), PROVIDER + "/register", "provider", "register a provider (always registered)"),
    Route(("GET",), PROVIDER + "/locations/{location}/operationStatuses/{operation}", "operation_status",
          "async operation status (Azure-AsyncOperation)"),
    Route(("GET",), PROVIDER + "/locations/{location}/operationResults/{operation}", "operation_result",
          "async operation result (Location)"),
    Route(("POST",), PROVIDER + "/checkNameAvailability", "check_name", "storage account name check"),
    Route(("GET",), PROVIDER + "/{type}", "list_in_subscription", "resources of a type in the subscription"),
    Route(("GET",), SUB + "/resourceGroups", "list_groups", "resource groups"),
    Route(("GET", "HEAD", "PUT", "PATCH", "DELETE"), GROUP, "group", "a resource group"),
    Route(("GET",), GROUP + "/resources", "group_resources", "resources in a group"),
    Route(("GET",), GROUP + "/providers/Microsoft.Resources/deployments", "list_deployments", "deployments"),
    Route(("POST",), DEPLOYMENT + "/validate", "validate_deployment", "deployment preflight"),
    Route(("GET",), DEPLOYMENT + "/operations", "deployment_operations", "a deployment's operations"),
    Route(("GET",), DEPLOYMENT + "/operationStatuses/{operation}", "deployment_status", "deployment poll"),
    Route(("GET", "HEAD", "PUT", "DELETE"), DEPLOYMENT, "deployment", "a template deployment"),
    Route(("GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"), GROUP + "/providers/{path*}", "resource",
          "any registered resource type: its collection, a resource, a child collection, a POST action"),
]
