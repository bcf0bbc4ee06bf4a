"""Log Analytics workspaces (control plane only)."""
