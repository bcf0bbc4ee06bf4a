"""The AI Toolkit project on disk: finds it, reads and validates `infra/*.json`, writes the config.

Every problem is raised as one az error whose message names the file, the key (or line and
column) and the fix, so the user never sees a traceback.
"""
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from azure.cli.core.azclierror import FileOperationError, ValidationError
from knack.log import get_logger

logger = get_logger(__name__)

CONFIG_REL = Path("infra", "inference.config.json")
PARAMETERS_REL = Path("infra", "provision", "inference.parameters.json")
TEMPLATE_REL = Path("infra", "provision", "inference.json")
BICEP_REL = Path("infra", "provision", "inference.bicep")
FINETUNING_CONFIG_REL = Path("infra", "finetuning.config.json")

# The six keys of the AI Toolkit's inference config, then the ones our deploy also needs.
SEED_CONFIG_KEYS = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME",
                    "FILE_SHARE_NAME", "ACA_APP_NAME", "ACA_APP_ENDPOINT")
EXTRA_CONFIG_KEYS = ("ACA_ENVIRONMENT_NAME", "BASE_MODEL_PATH", "ADAPTER_PATH")
FINETUNING_CONFIG_KEYS = ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME",
                          "FILE_SHARE_NAME", "ACA_JOB_NAME", "COMMANDS")

PROVISION_HINT = "run 'az aitk-infer provision' or fill it by hand (see README: manual provisioning)"


def _placeholder(value):
    """The seed's sample config ships values such as '<your-aca-endpoint>'."""
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def read_json_object(path, fix):
    """Parse `path` as a JSON object, raising one clear error for every way it can be wrong."""
    if path.is_dir():
        raise FileOperationError(f"{path}: is a directory, expected a JSON file. Fix: {fix}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileOperationError(f"{path}: file not found. Fix: {fix}") from None
    except OSError as ex:
        raise FileOperationError(f"{path}: cannot be read ({ex.strerror}). Fix: check its "
                                 "permissions") from None
    try:
        text = raw.decode("utf-8-sig")  # accept the byte-order mark Windows editors write
    except UnicodeDecodeError as ex:
        raise FileOperationError(f"{path}: not valid UTF-8 (byte {ex.start}). Fix: save the file "
                                 "as UTF-8") from None
    if not text.strip():
        raise ValidationError(f"{path}: file is empty. Fix: {fix}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as ex:
        raise ValidationError(f"{path}: invalid JSON at line {ex.lineno} column {ex.colno}: "
                              f"{ex.msg}. Fix: correct the JSON syntax there") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: expected a JSON object {{...}} at the top level, got "
                              f"{_json_type(data)}. Fix: {fix}")
    return data


def _json_type(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}[type(value)]


def _check_string_keys(path, data, known_keys):
    """Known keys must hold strings; unknown keys are kept but flagged (likely typos)."""
    for key, value in data.items():
        if key not in known_keys:
            logger.warning("%s: unknown key '%s' (kept as is). Known keys: %s", path, key,
                           ", ".join(known_keys))
        elif value is not None and not isinstance(value, str):
            raise ValidationError(f"{path}: key '{key}' must be a string, got {_json_type(value)}. "
                                  f"Fix: write it as \"{key}\": \"...\"")


@dataclass
class InferenceConfig:
    """Validated `infra/inference.config.json`; unknown keys survive a rewrite."""
    path: Path
    values: dict

    def get(self, key):
        value = self.values.get(key)
        if isinstance(value, str) and not value.strip():
            return None  # only spaces: as good as missing
        return None if value is None or _placeholder(value) else value

    def require(self, *keys):
        missing = [k for k in keys if self.get(k) is None]
        if missing:
            raise ValidationError(f"{self.path}: {', '.join(missing)} missing or empty. "
                                  f"Fix: {PROVISION_HINT}")
        return [self.values[k] for k in keys]


class Workspace:
    """An AI Toolkit project folder: the one holding `infra/`."""

    def __init__(self, root):
        self.root = Path(root).resolve()

    @classmethod
    def find(cls, workspace=None, start=None):
        if workspace:
            root = user_path(workspace, "--workspace")
            if not root.is_dir():
                raise FileOperationError(f"--workspace {workspace}: not a folder. Fix: pass the "
                                         "project folder that holds infra/")
            if not (root / "infra").is_dir():
                raise FileOperationError(f"--workspace {workspace}: has no infra/ folder. Fix: pass "
                                         "your AI Toolkit project folder, or create one with "
                                         f"'az aitk-infer init --workspace {workspace}'")
            return cls(root)
        here = Path(start or os.getcwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "infra").is_dir():
                return cls(folder)
        raise FileOperationError(f"No AI Toolkit project in {here} or its parents (no infra/ "
                                 "folder). Fix: cd into your project, pass --workspace, or create "
                                 "one with 'az aitk-infer init'")

    @property
    def config_path(self):
        return self.root / CONFIG_REL

    @property
    def parameters_path(self):
        return self.root / PARAMETERS_REL

    @property
    def finetuning_config_path(self):
        return self.root / FINETUNING_CONFIG_REL

    def read_config(self):
        path = self.config_path
        data = read_json_object(path, PROVISION_HINT)
        _check_string_keys(path, data, SEED_CONFIG_KEYS + EXTRA_CONFIG_KEYS)
        return InferenceConfig(path, data)

    def read_finetuning_config(self):
        """The fine-tuning step's config, or None when this project has none."""
        path = self.finetuning_config_path
        if not path.exists():
            return None
        data = read_json_object(path, "fix the fine-tuning config or remove it")
        _check_string_keys(path, data, FINETUNING_CONFIG_KEYS)
        return data

    def read_parameters(self):
        """The ARM parameters file as {name: value}; `reference` (Key Vault) entries kept whole."""
        path = self.parameters_path
        fix = "see infra/README.md for the parameters file format"
        data = read_json_object(path, fix)
        params = data.get("parameters")
        if not isinstance(params, dict):
            raise ValidationError(f"{path}: key 'parameters' must be an object of "
                                  f"{{\"name\": {{\"value\": ...}}}}. Fix: {fix}")
        for name, entry in params.items():
            if not isinstance(entry, dict) or not ({"value", "reference"} & entry.keys()):
                raise ValidationError(f"{path}: parameter '{name}' must be an object with a "
                                      f"\"value\" key, e.g. \"{name}\": {{\"value\": ...}}. Fix: "
                                      "wrap the value")
        return params

    def check_config_writable(self):
        """Fail now, before anything changes in Azure, if the config could not be written later."""
        folder = self.config_path.parent
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{self.config_path.name}.", suffix=".tmp", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as ex:
            raise FileOperationError(f"{folder}: cannot write {self.config_path.name} there "
                                     f"({ex.strerror}). Fix: make the project folder writable, or "
                                     "copy it somewhere writable and run the command there") from None

    def write_config(self, updates):
        """Merge `updates` into the config and replace the file atomically.

        A malformed existing file stops the write (its content is the user's); unknown keys
        are carried over in their place.
        """
        path = self.config_path
        values = self.read_config().values if path.exists() else {}
        merged = {**values, **updates}
        write_json_atomic(path, merged)
        return InferenceConfig(path, merged)


def user_path(value, flag):
    """A path flag's value with `~` expanded; `~nosuchuser/x` is one error line, not a traceback."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        raise FileOperationError(f"{flag} {value}: no such user's home folder. Fix: write the "
                                 "path without '~user', e.g. an absolute path") from None


def write_json_atomic(path, data):
    """Temporary file in the same folder + rename: readers see the old or the new file, whole."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as ex:
        raise FileOperationError(f"{path}: cannot be written ({ex.strerror}). Fix: make its folder "
                                 "writable") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
