"""Validates ARM templates and parameter files against Azure's published JSON schemas (offline copy).

The published schemas leave objects open (no `additionalProperties: false`), so a misspelt
property would pass them unnoticed. Like ARM's own what-if and the Bicep type checker, which
flag unknown properties, this checker closes every object schema that lists its properties.
Resources also accept the template-level keys every ARM resource may carry (dependsOn, ...), and
every resource name may be an expression: a template names a child resource by its full path
(`account/default/share`), which the leaf-name limits of a few child types (shares: 3-63
characters, no expression alternative, unlike fileServices or queues) were not generated for.
"""

import copy
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import referencing
from referencing.jsonschema import DRAFT4

COMMON_ID = "https://schema.management.azure.com/schemas/common/definitions.json"
TEMPLATE_ID = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json"
PARAMETERS_ID = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json"
# Keys ARM itself reads on any resource of a template (common/definitions.json#/definitions/resourceBase).
_TEMPLATE_RESOURCE_KEYS = ("dependsOn", "condition", "copy", "comments")


# The files the tests read, pinned: Azure/azure-resource-manager-schemas at this commit, each
# checked by its git blob id wherever it comes from.
PINNED_COMMIT = "a1454431151fd3e9c1b254b1a11d00c2d8474611"
PINNED_BLOBS = {
    "2019-04-01/deploymentParameters.json": "94fc553df0ab40f28f842b8fd13432365ba97168",
    "2019-04-01/deploymentTemplate.json": "a6bf37ce1bdf3314f8975245ea720014aedd199e",
    "2025-01-01/Microsoft.App.ContainerApps.json": "549d235b696099aa2e813f8e3c05fba81fe8bb95",
    "2025-01-01/Microsoft.App.json": "d73c0f22dd29c47e31cf4b05de006312cfadca27",
    "2025-01-01/Microsoft.Storage.json": "9cf5b145b26573cba4864404d93d7e6377dbb994",
    "2025-07-01/Microsoft.OperationalInsights.json": "37a23a066b114ffd1e3897bcbd495ad0537efa48",
    "common/definitions.json": "49a5e57d386566aa904a396b3e1eb57b15a0ca09",
}
DOWNLOAD_BASE = f"https://raw.githubusercontent.com/Azure/azure-resource-manager-schemas/{PINNED_COMMIT}/schemas"
HOW_TO_PROVIDE = (f"set ARM_SCHEMAS_DIR to a folder holding {', '.join(sorted(PINNED_BLOBS))} from "
                  f"Azure/azure-resource-manager-schemas at {PINNED_COMMIT} (folder schemas/), or clone "
                  "the shared reference folder beside the repository (../shared/reference/arm-schemas)")


class SchemaMissing(LookupError):
    pass


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _mismatch(folder: Path) -> str | None:
    """Why `folder` does not hold the pinned files, or None when it does."""
    for relative, blob in PINNED_BLOBS.items():
        path = folder / relative
        if not path.is_file():
            return f"{path} is missing"
        if git_blob_id(path.read_bytes()) != blob:
            return f"{path} is not blob {blob} of commit {PINNED_COMMIT}"
    return None


def _download(cache: Path, base: str) -> str | None:
    """Fetch the pinned files into `cache`, each checked before it is kept; why not, or None."""
    for relative, blob in PINNED_BLOBS.items():
        target = cache / relative
        if target.is_file() and git_blob_id(target.read_bytes()) == blob:
            continue
        try:
            with urllib.request.urlopen(f"{base}/{relative}", timeout=30) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as ex:
            return f"downloading {base}/{relative} failed ({getattr(ex, 'reason', ex)})"
        if git_blob_id(data) != blob:
            return f"{base}/{relative} is not blob {blob}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return None


def locate_schemas(repo: Path, cache: Path, base: str = DOWNLOAD_BASE) -> Path:
    """The pinned schema files: $ARM_SCHEMAS_DIR, else ../shared/reference/arm-schemas beside the
    repository, else a download into `cache`. One SchemaMissing line saying how to provide them."""
    explicit = os.environ.get("ARM_SCHEMAS_DIR")
    if explicit:
        problem = _mismatch(Path(explicit))
        if problem:
            raise SchemaMissing(f"ARM_SCHEMAS_DIR: {problem}. Fix: {HOW_TO_PROVIDE}")
        return Path(explicit)
    shared = repo.parent / "shared" / "reference" / "arm-schemas"
    if shared.is_dir():
        problem = _mismatch(shared)
        if problem:
            raise SchemaMissing(f"{problem}. Fix: {HOW_TO_PROVIDE}")
        return shared
    problem = _download(cache, base)
    if problem:
        raise SchemaMissing(f"ARM schemas not found ({problem}). Fix: {HOW_TO_PROVIDE}")
    return cache


class ArmSchemas:
    def __init__(self, root: Path):
        self.root = root
        self._registry = referencing.Registry()
        common = self._load("common/definitions.json")
        self._resource_base = _resource_base_properties(common)
        self._add(common)
        self._add(_closed(self._load("2019-04-01/deploymentTemplate.json")))
        self._add(self._load("2019-04-01/deploymentParameters.json"))
        self._provider_ids: dict[str, list[str]] = {}

    def resource_errors(self, resource: dict) -> list[str]:
        """Problems of one template resource against every schema variant for its type and API version."""
        namespace, _, type_path = resource["type"].partition("/")
        key = type_path.replace("/", "_")
        errors = []
        for file_id in self._provider_files(namespace, resource["apiVersion"]):
            schema = {"$ref": f"{file_id}#/resourceDefinitions/{key}"}
            errors += [f"{file_id.rsplit('/', 2)[-2]}/{file_id.rsplit('/', 1)[-1]}: {e}"
                       for e in self._errors(schema, resource)]
        return errors

    def template_errors(self, template: dict) -> list[str]:
        """Problems of the template's top level (resources are checked one by one, see resource_errors)."""
        top = dict(template, resources=[])
        return self._errors({"$ref": TEMPLATE_ID + "#"}, top)

    def parameters_file_errors(self, parameters_file: dict) -> list[str]:
        return self._errors({"$ref": PARAMETERS_ID + "#"}, parameters_file)

    def _errors(self, schema: dict, instance: object) -> list[str]:
        validator = jsonschema.Draft4Validator(schema, registry=self._registry)
        return [line for error in validator.iter_errors(instance) for line in _describe(error)]

    def _provider_files(self, namespace: str, api_version: str) -> list[str]:
        cache_key = f"{api_version}/{namespace}"
        if cache_key not in self._provider_ids:
            paths = sorted(self.root.glob(f"{api_version}/{namespace}.json"))
            paths += sorted(self.root.glob(f"{api_version}/{namespace}.*.json"))
            if not paths:
                raise SchemaMissing(
                    f"no schema for {namespace} at API version {api_version} under {self.root}: "
                    "use an API version that folder covers"
                )
            ids = []
            for path in paths:
                contents = _closed(self._load(path.relative_to(self.root).as_posix()))
                _adapt_to_templates(contents, self._resource_base)
                self._add(contents)
                ids.append(contents["id"].rstrip("#"))
            self._provider_ids[cache_key] = ids
        return self._provider_ids[cache_key]

    def _load(self, relative: str) -> dict:
        return json.loads((self.root / relative).read_text(encoding="utf-8"))

    def _add(self, contents: dict) -> None:
        resource = DRAFT4.create_resource(contents)
        self._registry = self._registry.with_resource(contents["id"].rstrip("#"), resource)


def _resource_base_properties(common: dict) -> dict:
    base = common["definitions"]
    found = dict(base["ARMResourceBase"]["properties"])
    for part in base["resourceBase"]["allOf"]:
        found.update(part.get("properties", {}))
    return {key: found[key] for key in _TEMPLATE_RESOURCE_KEYS}


def _adapt_to_templates(provider: dict, resource_base: dict) -> None:
    expression = {"$ref": COMMON_ID + "#/definitions/expression"}
    for definition in provider["resourceDefinitions"].values():
        properties = definition["properties"]
        for key, schema in resource_base.items():
            properties.setdefault(key, schema)
        properties["name"] = {"anyOf": [properties["name"], expression]}


def _closed(schema_file: dict) -> dict:
    """A copy of a schema file in which objects that list their properties allow no others."""
    closed = copy.deepcopy(schema_file)
    for section in ("definitions", "resourceDefinitions"):
        for schema in closed.get(section, {}).values():
            _close(schema, in_all_of=False)
    _close(closed, in_all_of=False)
    return closed


def _close(schema: object, in_all_of: bool) -> None:
    if not isinstance(schema, dict):
        return
    # An allOf member sees only its own properties: closing it would reject its siblings'.
    if "properties" in schema and "additionalProperties" not in schema and not in_all_of:
        schema["additionalProperties"] = False
    for sub in schema.get("properties", {}).values():
        _close(sub, in_all_of=False)
    for keyword in ("items", "additionalProperties", "not"):
        _close(schema.get(keyword), in_all_of=False)
    for keyword in ("oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            _close(sub, in_all_of=False)
    for sub in schema.get("allOf", []):
        _close(sub, in_all_of=True)


def _describe(error: jsonschema.ValidationError) -> list[str]:
    """The problem as lines "path: message". For a failed oneOf/anyOf, the alternatives that got
    furthest into the value say what is wrong; "is not an ARM expression" is noise beside them."""
    leaves = _leaves(error)
    telling = [leaf for leaf in leaves if not _is_expression_schema(leaf.schema)] or leaves
    deepest = max(len(leaf.absolute_path) for leaf in telling)
    return [
        f"{'/'.join(str(p) for p in leaf.absolute_path) or '(top)'}: {leaf.message}"
        for leaf in telling
        if len(leaf.absolute_path) == deepest
    ]


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _is_expression_schema(schema: object) -> bool:
    description = schema.get("description", "") if isinstance(schema, dict) else ""
    return str(description).startswith("Deployment template expression")
