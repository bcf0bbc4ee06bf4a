"""Loopback stand-in for the Azure endpoints aitk-infer uses (tests and the demo only)."""
