"""The template parameters an existing container app already has, read back from it, so that
provisioning again keeps what the user set before (the API key, scale limits, GPU profile, image,
model paths, extra variables, region, tags) unless this run's --parameters change it."""
import re

_PARAMETER_EXPRESSION = re.compile(r"\[parameters\('(\w+)'\)\]")


def _env_parameters(variables):
    """{env var name: template parameter} for the server's variables set from parameters."""
    mapping = {}
    for entry in variables.get("serverEnv") or []:
        match = _PARAMETER_EXPRESSION.fullmatch(str(entry.get("value", "")))
        if match:
            mapping[entry["name"]] = match.group(1)
    return mapping


def _gpu_profile_type(variables, workload_profile_name):
    for profile_type, spec in (variables.get("gpuProfiles") or {}).items():
        if (spec.get("workloadProfile") or {}).get("name") == workload_profile_name:
            return profile_type
    return None


def _scale_values(scale):
    values = {"minReplicas": scale.get("minReplicas"), "maximumInstanceCount": scale.get("maxReplicas")}
    for rule in scale.get("rules") or []:
        concurrent = ((rule.get("http") or {}).get("metadata") or {}).get("concurrentRequests")
        if concurrent is not None and str(concurrent).isdigit():
            values["concurrentRequestsPerReplica"] = int(concurrent)
    return values


def parameters_of_app(app, secrets, template):
    """{parameter: value} for the template's parameters the app shows.

    app: {"location", "tags", "properties"} as ARM returns them; secrets: {name: value} from the
    app's listSecrets. Values the app does not show are left out (the usual defaults apply)."""
    variables = template.get("variables") or {}
    props = app.get("properties") or {}
    spec = props.get("template") or {}
    container = (spec.get("containers") or [{}])[0]
    env = {e.get("name"): e for e in container.get("env") or [] if isinstance(e, dict)}
    server_env = _env_parameters(variables)
    values = {"location": app.get("location"), "tags": app.get("tags") or None,
              "containerImage": container.get("image"),
              "gpuProfileType": _gpu_profile_type(variables, props.get("workloadProfileName")),
              **_scale_values(spec.get("scale") or {})}
    for name, parameter in server_env.items():
        if name in env and "value" in env[name]:
            values[parameter] = env[name]["value"]
    api_key_secret = variables.get("apiKeySecretName")
    secret_refs = {e.get("secretRef") for e in env.values()}
    if api_key_secret in secret_refs and secrets.get(api_key_secret):
        values["apiKey"] = secrets[api_key_secret]
    # extraEnv is what the template's own variables (server's, API key's) do not set.
    own = {e.get("name") for e in variables.get("serverEnv") or []}
    extra = [{"name": name, "value": e["value"]} for name, e in env.items()
             if name not in own and "value" in e and "secretRef" not in e]
    values["extraEnv"] = extra
    declared = template.get("parameters") or {}
    return {k: v for k, v in values.items() if k in declared and v is not None}
