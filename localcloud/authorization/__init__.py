"""Microsoft.Authorization: role definitions (built-in) and role assignments, at any scope."""
