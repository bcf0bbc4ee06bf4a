"""A local check of `.safetensors` weights before they are uploaded: the header parses and the file
is exactly as long as the header says, so a truncated copy or a wrong file is refused, not uploaded.
Read by hand (8-byte length + JSON header): az's Python has no safetensors package."""
import json
import struct

from azure.cli.core.azclierror import FileOperationError


def _problem(path):
    """Why the file is not whole safetensors, or None."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return "shorter than a header"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return f"its header claims {length} bytes but the file has {size}"
        try:
            header = json.loads(handle.read(length))
            ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError):
            return "its header is not safetensors JSON"
    expected = 8 + length + max(ends, default=0)
    if expected != size:
        return f"truncated or padded: {size} bytes where the header needs {expected}"
    return None


def check_safetensors(folder, flag):
    """Every *.safetensors file in `folder` (not below) is whole; one clear error otherwise."""
    for path in sorted(folder.glob("*.safetensors")):
        problem = _problem(path)
        if problem:
            raise FileOperationError(f"{flag} {path}: not a valid safetensors file ({problem}). Fix: copy "
                                     "it again from where save_pretrained wrote it")
