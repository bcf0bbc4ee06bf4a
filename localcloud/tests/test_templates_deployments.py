"""Template deployments: ordering, conditions, loops, reference()/listKeys(), parameters, errors."""

from __future__ import annotations

import pytest

from localcloud.arm.exceptions import ArmError
from localcloud.templates import run_deployment, validate_template
from localcloud.tests.templates_fakes import RG_ID, SCOPE, MemoryProvider, rid, template

STORAGE = "Microsoft.Storage/storageAccounts"
WORKSPACE = "Microsoft.OperationalInsights/workspaces"
ENVIRONMENT = "Microsoft.App/managedEnvironments"


def resource(resource_type: str, name: str, **extra) -> dict:
    return {"type": resource_type, "apiVersion": "2025-01-01", "name": name, **extra}


def deploy(body: dict, parameters: dict | None = None, provider: MemoryProvider | None = None):
    provider = provider or MemoryProvider()
    outputs = run_deployment(body, parameters or {}, SCOPE, provider)
    return provider, outputs


def deployment_error(body: dict, parameters: dict | None = None,
                     provider: MemoryProvider | None = None) -> ArmError:
    with pytest.raises(ArmError) as caught:
        run_deployment(body, parameters or {}, SCOPE, provider or MemoryProvider())
    return caught.value


def test_resources_deploy_after_their_dependencies_and_otherwise_in_template_order():
    body = template(resources=[
        resource(ENVIRONMENT, "env", dependsOn=[f"[resourceId('{WORKSPACE}', 'logs')]"]),
        resource(STORAGE, "st"),
        resource(WORKSPACE, "logs"),
    ])
    provider, _ = deploy(body)
    assert provider.puts == [rid(STORAGE, "st"), rid(WORKSPACE, "logs"), rid(ENVIRONMENT, "env")]


def test_reference_and_list_keys_see_resources_deployed_earlier():
    workspace_id = f"[resourceId('{WORKSPACE}', 'logs')]"
    body = template(resources=[
        resource(ENVIRONMENT, "env", dependsOn=[workspace_id], properties={"appLogsConfiguration": {
            "customerId": f"[reference({workspace_id[1:-1]}, '2025-07-01').customerId]",
            "sharedKey": f"[listKeys({workspace_id[1:-1]}, '2025-07-01').primarySharedKey]"}}),
        resource(WORKSPACE, "logs", properties={"sku": {"name": "PerGB2018"}}),
        resource(STORAGE, "st"),
    ], outputs={
        "key": {"type": "string",
                "value": f"[listKeys(resourceId('{STORAGE}', 'st'), '2025-01-01').keys[0].value]"},
        "file": {"type": "string",
                 "value": f"[reference(resourceId('{STORAGE}', 'st'), '2025-01-01').primaryEndpoints.file]"},
    })
    provider, outputs = deploy(body)
    logs = provider.bodies[rid(ENVIRONMENT, "env")]["properties"]["appLogsConfiguration"]
    assert logs == {"customerId": "customer-logs", "sharedKey": "shared-logs"}
    assert outputs["key"] == {"type": "String", "value": "key1-st"}
    assert outputs["file"]["value"] == "https://127.0.0.1:1/st/"


def test_reference_by_template_name_uses_its_api_version_and_waits_for_it():
    body = template(resources=[
        resource(ENVIRONMENT, "env", properties={"customerId": "[reference('logs').customerId]"}),
        resource(WORKSPACE, "logs"),
    ])
    provider, _ = deploy(body)
    assert provider.puts == [rid(WORKSPACE, "logs"), rid(ENVIRONMENT, "env")]
    assert provider.bodies[rid(ENVIRONMENT, "env")]["properties"]["customerId"] == "customer-logs"


def test_reference_full_reads_an_existing_resource_outside_the_template():
    provider = MemoryProvider()
    provider.add_existing(rid(STORAGE, "old"), {"location": "eastus", "properties": {"x": 1}})
    body = template(outputs={"where": {"type": "string", "value": (
        f"[reference(resourceId('{STORAGE}', 'old'), '2025-01-01', 'Full').location]")}})
    assert deploy(body, provider=provider)[1]["where"]["value"] == "eastus"


def test_reference_to_a_missing_resource_fails_with_resource_not_found():
    body = template(resources=[resource(STORAGE, "st", properties={
        "x": f"[reference(resourceId('{STORAGE}', 'ghost'), '2025-01-01').y]"})])
    err = deployment_error(body)
    assert err.code == "DeploymentFailed"
    assert err.details[0]["code"] == "ResourceNotFound"
    assert "resources[0].properties.x" in err.details[0]["message"]
    assert err.details[0]["target"] == rid(STORAGE, "st")


def test_false_condition_skips_the_resource_and_dependencies_on_it():
    body = template(
        parameters={"withLogs": {"type": "bool", "defaultValue": False}},
        resources=[
            resource(WORKSPACE, "logs", condition="[parameters('withLogs')]"),
            resource(ENVIRONMENT, "env", dependsOn=["logs"], properties={
                "customerId": "[if(parameters('withLogs'), reference('logs').customerId, 'none')]"}),
        ])
    provider, _ = deploy(body)
    assert provider.puts == [rid(ENVIRONMENT, "env")]
    assert provider.bodies[rid(ENVIRONMENT, "env")]["properties"]["customerId"] == "none"
    provider, _ = deploy(body, {"withLogs": {"value": True}})
    assert provider.puts == [rid(WORKSPACE, "logs"), rid(ENVIRONMENT, "env")]


def test_copy_loop_creates_instances_and_a_dependency_on_the_loop_waits_for_all():
    body = template(
        parameters={"count": {"type": "int", "defaultValue": 3}},
        resources=[
            resource(ENVIRONMENT, "env", dependsOn=["stores"]),
            resource(STORAGE, "[format('st{0}', copyIndex(1))]",
                     copy={"name": "stores", "count": "[parameters('count')]"},
                     properties={"index": "[copyIndex('stores')]"}),
        ])
    provider, _ = deploy(body)
    assert provider.puts == [rid(STORAGE, "st1"), rid(STORAGE, "st2"), rid(STORAGE, "st3"),
                             rid(ENVIRONMENT, "env")]
    assert provider.bodies[rid(STORAGE, "st3")]["properties"]["index"] == 2


def test_serial_copy_loop_deploys_batch_after_batch():
    body = template(resources=[
        resource(WORKSPACE, "[format('w{0}', copyIndex())]",
                 copy={"name": "ws", "count": 4, "mode": "serial", "batchSize": 2}),
    ])
    assert deploy(body)[0].puts == [rid(WORKSPACE, f"w{i}") for i in range(4)]


def test_property_copy_loop_builds_an_array_property():
    body = template(resources=[resource(STORAGE, "st", properties={
        "copy": [{"name": "rules", "count": 2, "input": {"name": "[format('r{0}', copyIndex('rules'))]"}}],
        "other": 1})])
    provider, _ = deploy(body)
    assert provider.bodies[rid(STORAGE, "st")]["properties"] == {"rules": [{"name": "r0"}, {"name": "r1"}],
                                                                 "other": 1}


def test_nested_child_resources_get_full_type_and_name_and_follow_their_parent():
    body = template(resources=[resource(STORAGE, "st", resources=[
        resource("fileServices", "default", resources=[resource("shares", "models")]),
    ])])
    provider, _ = deploy(body)
    assert provider.puts == [rid(STORAGE, "st"), rid(f"{STORAGE}/fileServices", "st", "default"),
                             rid(f"{STORAGE}/fileServices/shares", "st", "default", "models")]


def test_child_declared_first_with_slash_name_waits_for_its_parent():
    body = template(resources=[
        resource(f"{STORAGE}/fileServices", "st/default"),
        resource(STORAGE, "st"),
    ])
    assert deploy(body)[0].puts == [rid(STORAGE, "st"), rid(f"{STORAGE}/fileServices", "st", "default")]


def test_extension_resource_with_scope_gets_an_id_under_its_scope():
    body = template(resources=[
        resource(STORAGE, "st"),
        resource("Microsoft.Authorization/locks", "lock", scope=f"{STORAGE}/st", dependsOn=["st"]),
    ])
    provider, _ = deploy(body)
    assert provider.puts[1] == f"{rid(STORAGE, 'st')}/providers/Microsoft.Authorization/locks/lock"


def test_template_only_keys_stay_out_of_the_put_body():
    body = template(resources=[resource(STORAGE, "st", location="[resourceGroup().location]",
                                        comments="c", condition=True, dependsOn=[],
                                        sku={"name": "Standard_LRS"}, kind="StorageV2")])
    provider, _ = deploy(body)
    assert provider.bodies[rid(STORAGE, "st")] == {
        "location": SCOPE.location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}


def test_redeploying_updates_template_resources_and_keeps_others():
    provider = MemoryProvider()
    provider.add_existing(rid(WORKSPACE, "unrelated"), {"properties": {}})
    body = template(
        parameters={"tier": {"type": "string"}},
        resources=[resource(STORAGE, "st", properties={"tier": "[parameters('tier')]"})],
        outputs={"tier": {"type": "string",
                          "value": f"[reference(resourceId('{STORAGE}', 'st'), '2025-01-01').tier]"}})
    assert deploy(body, {"tier": {"value": "Hot"}}, provider)[1]["tier"]["value"] == "Hot"
    assert deploy(body, {"tier": {"value": "Cool"}}, provider)[1]["tier"]["value"] == "Cool"
    assert rid(WORKSPACE, "unrelated").lower() in provider.resources
    assert provider.puts == [rid(STORAGE, "st"), rid(STORAGE, "st")]


def test_on_resource_reports_each_resource_once():
    seen = []
    body = template(resources=[resource(STORAGE, "a"), resource(STORAGE, "b")])
    run_deployment(body, {}, SCOPE, MemoryProvider(), on_resource=lambda r, s: seen.append((r, s)))
    assert seen == [(rid(STORAGE, "a"), "Succeeded"), (rid(STORAGE, "b"), "Succeeded")]


def test_provider_error_fails_the_deployment_with_its_code_message_and_target():
    seen = []
    body = template(resources=[resource(STORAGE, "ok"),
                               resource(STORAGE, "bad", properties={"rejectMe": True}),
                               resource(STORAGE, "never", dependsOn=["bad"])])
    with pytest.raises(ArmError) as caught:
        run_deployment(body, {}, SCOPE, MemoryProvider(), on_resource=lambda r, s: seen.append((r, s)))
    err = caught.value
    assert err.code == "DeploymentFailed"
    assert err.details == [{"code": "InvalidResourceProperties", "target": rid(STORAGE, "bad"),
                            "message": "The property 'rejectMe' is not allowed."}]
    assert seen == [(rid(STORAGE, "ok"), "Succeeded"), (rid(STORAGE, "bad"), "Failed")]
    assert err.to_dict()["details"][0]["code"] == "InvalidResourceProperties"


def test_dependency_cycle_is_a_validation_error_naming_the_resources():
    body = template(resources=[resource(STORAGE, "a", dependsOn=["b"]),
                               resource(STORAGE, "b", dependsOn=["a"])])
    with pytest.raises(ArmError) as caught:
        validate_template(body, {}, SCOPE)
    assert caught.value.code == "InvalidTemplate"
    assert "Circular dependency detected" in caught.value.message
    assert rid(STORAGE, "a") in caught.value.message and rid(STORAGE, "b") in caught.value.message


def test_depends_on_an_undefined_resource_names_the_entry():
    body = template(resources=[resource(STORAGE, "a", dependsOn=["[resourceId('X.Y/z', 'nope')]"])])
    with pytest.raises(ArmError, match=r"'.*X.Y/z/nope' at 'resources\[0\].dependsOn\[0\]' is not "
                                            "defined in the template"):
        validate_template(body, {}, SCOPE)


def test_duplicate_resources_are_refused():
    body = template(resources=[resource(STORAGE, "a"), resource(STORAGE, "A")])
    with pytest.raises(ArmError, match="defined multiple times"):
        validate_template(body, {}, SCOPE)


def test_copy_inside_a_nested_resource_is_refused():
    body = template(resources=[resource(STORAGE, "st", resources=[
        resource("fileServices", "[string(copyIndex())]", copy={"name": "c", "count": 2})])])
    with pytest.raises(ArmError, match=r"resources\[0\].resources\[0\]' cannot have a copy loop"):
        validate_template(body, {}, SCOPE)


def test_resource_with_wrong_number_of_name_segments_is_refused():
    body = template(resources=[resource(f"{STORAGE}/fileServices", "st")])
    with pytest.raises(ArmError, match="requires 2 resource name segment"):
        validate_template(body, {}, SCOPE)


PARAMETER_DECLARATIONS = {
    "name": {"type": "string", "minLength": 3, "maxLength": 5},
    "size": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 4},
    "tier": {"type": "string", "defaultValue": "Hot", "allowedValues": ["Hot", "Cool"]},
    "zones": {"type": "array", "defaultValue": [], "allowedValues": ["1", "2"]},
}


@pytest.mark.parametrize(("given", "fragment"), [
    ({}, "The value for the template parameter 'name' is not provided"),
    ({"name": {"value": 5}}, "Expected a value of type 'String', but received a value of type 'Integer'"),
    ({"name": {"value": "ab"}}, "length must be at least 3"),
    ({"name": {"value": "abcdef"}}, "length must be at most 5"),
    ({"name": {"value": "abc"}, "size": {"value": 0}}, "must be at least 1"),
    ({"name": {"value": "abc"}, "size": {"value": 5}}, "must be at most 4"),
    ({"name": {"value": "abc"}, "size": {"value": True}}, "Expected a value of type 'Int'"),
    ({"name": {"value": "abc"}, "tier": {"value": "Archive"}},
     "one of the allowed values [\"Hot\",\"Cool\"]"),
    ({"name": {"value": "abc"}, "zones": {"value": ["1", "3"]}}, "one of the allowed values"),
    ({"name": {"value": "abc"}, "extra": {"value": 1}}, "The template parameters 'extra' in the parameters"),
    ({"name": {"reference": {"keyVault": {"id": "/x"}, "secretName": "s"}}}, "Key Vault reference"),
    ({"name": "abc"}, "must be given as {\"value\": ...}"),
])
def test_bad_parameter_values_are_refused_with_a_clear_message(given, fragment):
    body = template(parameters=PARAMETER_DECLARATIONS)
    with pytest.raises(ArmError) as caught:
        validate_template(body, given, SCOPE)
    assert caught.value.code == "InvalidTemplate"
    assert fragment in caught.value.message


def test_null_parameter_value_means_the_default():
    body = template(parameters=PARAMETER_DECLARATIONS,
                    outputs={"size": {"type": "int", "value": "[parameters('size')]"}})
    outputs = deploy(body, {"name": {"value": "abc"}, "size": {"value": None}})[1]
    assert outputs["size"]["value"] == 2


SENSITIVE = "s3cr3t-Value-42"


def test_secure_values_never_appear_in_errors_or_outputs():
    declarations = {"key": {"type": "securestring", "allowedValues": ["only-this"]}}
    with pytest.raises(ArmError) as caught:
        validate_template(template(parameters=declarations), {"key": {"value": SENSITIVE}}, SCOPE)
    assert SENSITIVE not in str(caught.value)

    body = template(parameters={"key": {"type": "securestring"}},
                    resources=[resource(STORAGE, "st", properties={"n": "[int(parameters('key'))]"})],
                    outputs={"echo": {"type": "securestring", "value": "[parameters('key')]"}})
    err = deployment_error(body, {"key": {"value": SENSITIVE}})
    assert SENSITIVE not in str(err) and SENSITIVE not in repr(err.to_dict())
    assert "***" in err.details[0]["message"]

    body["resources"] = []
    outputs = deploy(body, {"key": {"value": SENSITIVE}})[1]
    assert outputs == {"echo": {"type": "SecureString"}}


def test_secure_value_is_passed_to_the_provider():
    body = template(parameters={"key": {"type": "securestring"}},
                    resources=[resource(STORAGE, "st", properties={"secret": "[parameters('key')]"})])
    provider, _ = deploy(body, {"key": {"value": SENSITIVE}})
    assert provider.bodies[rid(STORAGE, "st")]["properties"]["secret"] == SENSITIVE


def test_unknown_function_in_a_resource_fails_before_anything_is_deployed():
    provider = MemoryProvider()
    body = template(resources=[resource(STORAGE, "a"),
                               resource(STORAGE, "b", properties={"x": "[pickZones('a', 'b', 'c')]"})])
    err = deployment_error(body, provider=provider)
    assert err.code == "InvalidTemplate"
    assert "pickZones" in err.message and "resources[1].properties.x" in err.message
    assert provider.puts == []


def test_resource_group_id_in_a_resource_body():
    body = template(resources=[resource(STORAGE, "st", properties={"rg": "[resourceGroup().id]"})])
    assert deploy(body)[0].bodies[rid(STORAGE, "st")]["properties"]["rg"] == RG_ID


def test_nested_deployments_are_refused_clearly():
    body = template(resources=[resource("Microsoft.Resources/deployments", "module", properties={})])
    with pytest.raises(ArmError, match="nested deployment .*not support"):
        validate_template(body, {}, SCOPE)


def test_depending_on_an_empty_copy_loop_waits_for_nothing():
    body = template(resources=[
        resource(STORAGE, "[format('st{0}', copyIndex())]", copy={"name": "stores", "count": 0}),
        resource(ENVIRONMENT, "env", dependsOn=["stores"]),
    ])
    assert deploy(body)[0].puts == [rid(ENVIRONMENT, "env")]
