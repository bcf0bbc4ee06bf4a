"""The Gradio chat page: another client of the same ChatService and engine as the HTTP API."""

from __future__ import annotations

import gradio as gr

from .engine import QueueFullError
from .errors import ApiError, NotReadyError
from .protocol import ChatCompletionRequest
from .serving import ChatService
from .state import ServerState


def _history_messages(history: list[dict]) -> list[dict]:
    """Gradio's OpenAI-style history, keeping text turns only (files and components have no tokens here)."""
    messages = []
    for turn in history:
        content = turn.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if isinstance(content, str) and turn.get("role") in ("user", "assistant"):
            messages.append({"role": turn["role"], "content": content})
    return messages


def build_ui(state: ServerState, service: ChatService) -> gr.Blocks:
    settings = state.settings

    async def chat(
        message: str,
        history: list[dict],
        system_prompt: str,
        temperature: float,
        top_p: float,
        max_tokens: int,
    ):
        system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
        try:
            request = ChatCompletionRequest(
                messages=system + _history_messages(history) + [{"role": "user", "content": message}],
                temperature=temperature,
                top_p=top_p,
                max_tokens=int(max_tokens),
                stream=True,
            )
            submitted = await service.submit_chat(request)
        except (ApiError, NotReadyError, QueueFullError) as exc:
            yield f"**Error:** {exc}"
            return
        text = ""
        async for _, delta in service.deltas(submitted):
            text += delta.text
            yield text

    with gr.Blocks(title="aitk-infer chat") as page:
        # A callable value is evaluated on every page load, so the header shows what is loaded now.
        gr.Markdown(lambda: f"### aitk-infer chat: {state.headline()}")
        gr.ChatInterface(
            chat,
            # render=False: inputs made inside the Blocks would be drawn here, above the chat, and leave
            # the accordion empty; unrendered, ChatInterface draws them inside it.
            additional_inputs=[
                gr.Textbox(label="System prompt", value="", lines=2, render=False),
                gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="Temperature", render=False),
                gr.Slider(0.05, 1.0, value=0.95, step=0.05, label="Top-p", render=False),
                gr.Slider(
                    1,
                    settings.max_new_tokens,
                    value=min(256, settings.max_new_tokens),
                    step=1,
                    label="Max new tokens",
                    render=False,
                ),
            ],
            additional_inputs_accordion=gr.Accordion("Generation settings", open=False, render=False),
            concurrency_limit=settings.max_batch_size,
            api_name="chat",
            # Gradio embeds its API description in every page, the login page too: with a key, the
            # endpoint stays callable (gradio_client) but undescribed; /v1 is the documented API.
            api_visibility="undocumented" if settings.api_key else "public",
        )
    # The UI's queue is bounded like the API's: past it, Gradio tells the user the queue is full.
    page.queue(max_size=settings.max_queue)
    # Gradio's queue looks for work every 1 ms when idle (progress every 10 ms): that busy loop cost an
    # idle server 4.5% of a core and takes the GIL and CPU from decoding. Gradio's Windows values
    # (50 ms, 100 ms) delay only the start of a UI request.
    page._queue.sleep_when_free = 0.05
    page._queue.progress_update_sleep_when_free = 0.1
    return page
