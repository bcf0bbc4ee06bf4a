"""Builders of the demo's model assets: a base model from a GGUF and a small style LoRA adapter."""
