"""The ARM template expression language: values of expressions, and errors that name them."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from localcloud.arm.exceptions import ArmError
from localcloud.templates import run_deployment, validate_template
from localcloud.templates.hashing import unique_string
from localcloud.tests.templates_fakes import RG_ID, SCOPE, MemoryProvider, template

OUTPUT_TYPES = {str: "string", int: "int", bool: "bool", list: "array", dict: "object"}


def evaluate(expression: str, expected_type: type = str, **parts):
    """The value of ``expression`` as a template output of a deployment with no resources."""
    body = template(outputs={"result": {"type": OUTPUT_TYPES[expected_type], "value": expression}},
                    **parts)
    return run_deployment(body, {}, SCOPE, MemoryProvider())["result"]["value"]


VALUES = [
    ("[concat('a', 'b', 'c')]", "abc"),
    ("[concat(createArray(1), createArray(2, 3))]", [1, 2, 3]),
    ("[format('{0}-{1}', 'x', 7)]", "x-7"),
    ("[format('{0:D3}|{1,4}|{{literal}}', 5, 'ab')]", "005|  ab|{literal}"),
    ("[format('{0}', true())]", "True"),
    ("[substring('abcdef', 2, 3)]", "cde"),
    ("[substring('abcdef', 4)]", "ef"),
    ("[join(createArray('a', 'b'), ', ')]", "a, b"),
    ("[toLower('MiXeD')]", "mixed"),
    ("[toUpper('MiXeD')]", "MIXED"),
    ("[trim('  x  ')]", "x"),
    ("[replace('a-b-c', '-', '')]", "abc"),
    ("[split('a,b;c', createArray(',', ';'))]", ["a", "b", "c"]),
    ("[startsWith('Microsoft.App', 'microsoft')]", True),
    ("[endsWith('name.json', '.JSON')]", True),
    ("[contains('abc', 'b')]", True),
    ("[contains(createArray(1, 2), 3)]", False),
    ("[contains(createObject('Key', 1), 'key')]", True),
    ("[indexOf('abcabc', 'C')]", 2),
    ("[lastIndexOf('abcabc', 'c')]", 5),
    ("[padLeft('7', 3, '0')]", "007"),
    ("[string(createObject('a', 1))]", '{"a":1}'),
    ("[string(false())]", "False"),
    ("[int('42')]", 42),
    ("[bool('TRUE')]", True),
    ("[json('{\"a\": [1, 2]}').a[1]]", 2),
    ("[json('null')]", None),
    ("[equals(createArray(1, 'a'), createArray(1, 'a'))]", True),
    ("[equals(1, true())]", False),
    ("[not(equals('a', 'A'))]", True),
    ("[and(true(), or(false(), true()))]", True),
    ("[less(1, 2)]", True),
    ("[lessOrEquals('b', 'a')]", False),
    ("[greater(3, 2)]", True),
    ("[greaterOrEquals(2, 2)]", True),
    ("[if(equals(1, 1), 'yes', 'no')]", "yes"),
    # The branch not taken is never evaluated, so its error does not fire.
    ("[if(true(), 'safe', substring('x', 5))]", "safe"),
    ("[empty('')]", True),
    ("[empty(createObject())]", True),
    ("[empty(createArray(0))]", False),
    ("[coalesce(null(), null(), 'third')]", "third"),
    ("[length('abcd')]", 4),
    ("[length(createObject('a', 1, 'b', 2))]", 2),
    ("[union(createObject('a', 1, 'n', createObject('x', 1)), "
     "createObject('b', 2, 'n', createObject('y', 2)))]",
     {"a": 1, "n": {"x": 1, "y": 2}, "b": 2}),
    ("[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
    ("[intersection(createArray(1, 2, 3), createArray(3, 2))]", [2, 3]),
    ("[first(createArray('x', 'y'))]", "x"),
    ("[last('xyz')]", "z"),
    ("[take(createArray(1, 2, 3), 2)]", [1, 2]),
    ("[skip('abcdef', 4)]", "ef"),
    ("[min(createArray(4, 2, 9))]", 2),
    ("[max(4, 2, 9)]", 9),
    ("[range(5, 3)]", [5, 6, 7]),
    ("[add(2, 3)]", 5),
    ("[sub(2, 3)]", -1),
    ("[mul(4, 3)]", 12),
    ("[div(-7, 2)]", -3),
    ("[mod(-7, 2)]", -1),
    ("[base64('hello')]", "aGVsbG8="),
    ("[base64ToString('aGVsbG8=')]", "hello"),
    ("[uri('https://example.test/a/b', 'c')]", "https://example.test/a/c"),
    ("[uriComponent('a b/c')]", "a%20b%2Fc"),
    ("[items(createObject('b', 2, 'a', 1))]", [{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    ("[createObject('a', createArray(10, 20)).a[1]]", 20),
    ("[createObject('Outer', createObject('inner', 'v')).outer['INNER']]", "v"),
    ("[tryGet(createObject('a', 1), 'missing')]", None),
    ("[resourceGroup().location]", SCOPE.location),
    ("[resourceGroup().id]", RG_ID),
    ("[resourceGroup().name]", SCOPE.resource_group),
    ("[subscription().subscriptionId]", SCOPE.subscription_id),
    ("[subscription().tenantId]", SCOPE.tenant_id),
    ("[subscription().id]", f"/subscriptions/{SCOPE.subscription_id}"),
    ("[tenant().tenantId]", SCOPE.tenant_id),
    ("[deployment().name]", SCOPE.deployment_name),
    ("[environment().resourceManager]", "https://management.azure.com/"),
    ("[environment().suffixes.storage]", "core.windows.net"),
    ("[resourceId('Microsoft.Storage/storageAccounts', 'st1')]",
     f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/st1"),
    ("[resourceId('Microsoft.Storage/storageAccounts/fileServices/shares', 'st1', 'default', 'sh')]",
     f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/st1/fileServices/default/shares/sh"),
    ("[resourceId('other-rg', 'Microsoft.Storage/storageAccounts', 'st1')]",
     f"/subscriptions/{SCOPE.subscription_id}/resourceGroups/other-rg/providers/Microsoft.Storage/"
     "storageAccounts/st1"),
    ("[resourceId('sub2', 'rg2', 'Microsoft.App/managedEnvironments/storages', 'env/st')]",
     "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.App/managedEnvironments/env/storages/st"),
    ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
     f"/subscriptions/{SCOPE.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/r1"),
    ("[extensionResourceId('/x/y', 'Microsoft.Authorization/locks', 'l1')]",
     "/x/y/providers/Microsoft.Authorization/locks/l1"),
    ("[[not an expression]", "[not an expression]"),
    ("plain text", "plain text"),
    ("[concat('it''s', ' ok')]", "it's ok"),
    ("[ toLower( 'A' ) ]", "a"),
    ("[null()]", None),
]


@pytest.mark.parametrize(("expression", "expected"), VALUES, ids=[v[0] for v in VALUES])
def test_expression_evaluates_to_the_arm_value(expression, expected):
    assert evaluate(expression, type(expected) if expected is not None else str) == expected


@pytest.mark.parametrize(("args", "expected"), [
    # Published outputs of real ARM deployments.
    (("aaa",), "zavj67f3en4hc"),
    (("bbb",), "w5eragfxe33cy"),
    (("zzz",), "cryksdzzzawae"),
    (("xxx", "yyy", "zzz"), "lghi7k5js7itq"),
    (("test",), "rbgf3xv4ufgzg"),
    (("hello", "world"), "a7wkljktk6wne"),
    (("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg",), "bmg7c6xu4tw46"),
])
def test_unique_string_matches_azure(args, expected):
    assert unique_string(*args) == expected


def test_unique_string_in_a_template_hashes_dash_joined_arguments():
    assert evaluate("[uniqueString('hello', 'world')]") == "a7wkljktk6wne"
    assert len(evaluate("[uniqueString(resourceGroup().id, deployment().name, 'λ')]")) == 13


def test_guid_is_the_name_based_uuid_of_dash_joined_arguments_in_arm_namespace():
    expected = uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), "a-b")
    assert evaluate("[guid('a', 'b')]") == str(expected)


def test_environment_takes_overrides_from_the_scope():
    scope = dataclasses.replace(SCOPE, environment={"resourceManager": "https://127.0.0.1:8443/"})
    body = template(outputs={"rm": {"type": "object", "value": "[environment()]"}})
    env = run_deployment(body, {}, scope, MemoryProvider())["rm"]["value"]
    assert env["resourceManager"] == "https://127.0.0.1:8443/"
    assert env["suffixes"]["storage"] == "core.windows.net"


def test_parameters_and_variables_resolve_in_any_order_and_ignore_case():
    parts = {
        "parameters": {"prefix": {"type": "string", "defaultValue": "[toUpper(parameters('base'))]"},
                       "base": {"type": "string", "defaultValue": "ab"}},
        "variables": {"full": "[concat(variables('Middle'), '!')]",
                      "middle": "[concat(parameters('PREFIX'), '-x')]"},
    }
    assert evaluate("[variables('full')]", **parts) == "AB-x!"


def test_variable_copy_loop_builds_an_array_with_copy_index():
    parts = {"variables": {"copy": [{"name": "disks", "count": 3,
                                     "input": {"lun": "[copyIndex('disks', 10)]"}}]}}
    assert evaluate("[variables('disks')]", list, **parts) == [{"lun": 10}, {"lun": 11}, {"lun": 12}]


def test_output_copy_loop_builds_an_array():
    body = template(outputs={"names": {"type": "array",
                                       "copy": {"count": 2, "input": "[format('n{0}', copyIndex(1))]"}}})
    assert run_deployment(body, {}, SCOPE, MemoryProvider())["names"]["value"] == ["n1", "n2"]


def failure(expression: str, **parts) -> ArmError:
    with pytest.raises(ArmError) as caught:
        evaluate(expression, **parts)
    return caught.value


def test_unknown_function_fails_validation_naming_expression_and_place():
    body = template(variables={"x": {"inner": "[frobnicate('a')]"}})
    with pytest.raises(ArmError) as caught:
        validate_template(body, {}, SCOPE)
    assert caught.value.code == "InvalidTemplate"
    assert "frobnicate" in caught.value.message
    assert "variables.x.inner" in caught.value.message


def test_wrong_argument_count_fails_validation():
    body = template(outputs={"o": {"type": "string", "value": "[substring('a')]"}})
    with pytest.raises(ArmError, match=r"'substring' expects 2 to 3 argument\(s\), but 1"):
        validate_template(body, {}, SCOPE)


@pytest.mark.parametrize(("expression", "fragment"), [
    ("[concat('a']", "expected ')'"),
    ("[concat('a') extra]", "the end of the expression"),
    ("[concat(#)]", "'#' at position 7"),
])
def test_syntax_errors_name_the_expression(expression, fragment):
    body = template(outputs={"o": {"type": "string", "value": expression}})
    with pytest.raises(ArmError) as caught:
        validate_template(body, {}, SCOPE)
    assert fragment in caught.value.message
    assert "outputs.o.value" in caught.value.message


@pytest.mark.parametrize(("expression", "fragment"), [
    ("[substring('abc', 2, 5)]", "The index and length parameters must refer to a location within"),
    ("[createObject('a', 1).b]", "property 'b' doesn't exist, available properties are 'a'"),
    ("[createArray(1)[3]]", "array index '3' is out of bounds"),
    ("[toLower(1)]", "expects its parameter to be of type 'String'"),
    ("[div(1, 0)]", "cannot divide by zero"),
    ("[parameters('nope')]", "The template parameter 'nope' is not found"),
    ("[variables('nope')]", "The template variable 'nope' is not found"),
    ("[copyIndex()]", "not inside a resource copy loop"),
])
def test_runtime_errors_in_outputs_name_output_and_cause(expression, fragment):
    err = failure(expression)
    assert err.code == "DeploymentOutputEvaluationFailed"
    assert fragment in err.details[0]["message"]
    assert expression in err.details[0]["message"]


def test_circular_variables_are_reported():
    parts = {"variables": {"a": "[variables('b')]", "b": "[variables('a')]"}}
    body = template(outputs={"o": {"type": "string", "value": "x"}}, **parts)
    with pytest.raises(ArmError, match="Circular reference detected: variable 'a' -> variable 'b' "
                                            "-> variable 'a'"):
        validate_template(body, {}, SCOPE)


def test_reference_is_refused_in_variables():
    body = template(variables={"v": "[reference('x', '2020-01-01')]"})
    with pytest.raises(ArmError, match="'reference' is not expected at this location"):
        validate_template(body, {}, SCOPE)


def test_parameter_defaults_cannot_use_variables():
    body = template(parameters={"p": {"type": "string", "defaultValue": "[variables('v')]"}},
                    variables={"v": "x"})
    with pytest.raises(ArmError, match="parameter default values cannot use variables"):
        validate_template(body, {}, SCOPE)


def test_utc_now_is_allowed_only_in_parameter_defaults():
    parts = {"parameters": {"stamp": {"type": "string", "defaultValue": "[utcNow('yyyy-MM-dd')]"}}}
    assert len(evaluate("[parameters('stamp')]", **parts)) == len("2026-01-01")
    assert "only in a parameter's defaultValue" in failure("[utcNow()]").details[0]["message"]


def test_symbolic_name_templates_are_refused_clearly():
    body = {"$schema": "x", "languageVersion": "2.0", "contentVersion": "1.0.0.0", "resources": {}}
    with pytest.raises(ArmError, match="languageVersion '2.0'.*not supported"):
        validate_template(body, {}, SCOPE)
