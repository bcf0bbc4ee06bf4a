"""aitk_serve: OpenAI-compatible chat server for a base model plus an AI Toolkit LoRA adapter."""

import os

# Set before gradio is imported: the server never phones home (usage analytics, version checks).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
