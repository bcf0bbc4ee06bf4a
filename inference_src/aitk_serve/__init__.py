"""aitk_serve: OpenAI-compatible chat server for a base model plus an AI Toolkit LoRA adapter."""

import os

# Set before gradio is imported: the server never phones home (usage analytics, version checks).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Set before torch loads OpenMP: on shared CPUs spinning worker threads lose their core and every
# parallel op waits for them (measured 4 -> 11 tok/s on a busy 2-vCPU host). Override by setting it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
