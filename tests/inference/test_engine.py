"""Engine behaviour without HTTP: merging, batching, joining a running batch."""

from __future__ import annotations

import asyncio

import pytest
from aitk_serve import engine as engine_module
from aitk_serve import model_loader
from aitk_serve.config import load_settings
from aitk_serve.engine import Engine, SamplingParams, complete
from aitk_serve.serving import encode_chat

PROMPTS = ["Hello", "What is the capital of France? Tell me more about it please.", "Hi!", "Tell me a story."]
GREEDY = SamplingParams(max_tokens=24, temperature=0.0, ignore_eos=True)


def start_engine(share, **env) -> Engine:
    loaded = model_loader.load(load_settings({"AITK_SHARE_ROOT": str(share), **env}))
    engine = Engine(loaded, max_batch_size=8, max_queue=8)
    engine.start()
    return engine


@pytest.fixture(scope="module")
def base_engine(share):
    engine = start_engine(share, AITK_BASE_ONLY="true")
    yield engine
    engine.stop()


def prompt_ids(engine: Engine, text: str) -> list[int]:
    return encode_chat(engine.loaded.tokenizer, [{"role": "user", "content": text}])


async def answers_one_at_a_time(engine: Engine, params: SamplingParams = GREEDY) -> list[str]:
    return [(await complete(engine, prompt_ids(engine, p), params))[0] for p in PROMPTS]


def test_merged_and_unmerged_adapter_give_the_same_greedy_output(share):
    outputs = {}
    for merge in ("true", "false"):
        engine = start_engine(share, AITK_MERGE_ADAPTER=merge)
        try:
            assert engine.loaded.merged is (merge == "true")
            outputs[merge] = asyncio.run(answers_one_at_a_time(engine))
        finally:
            engine.stop()
    assert outputs["true"] == outputs["false"]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(base_engine):
    alone = asyncio.run(answers_one_at_a_time(base_engine))
    steps: list[int] = []
    base_engine.on_step = steps.append

    async def together():
        jobs = [complete(base_engine, prompt_ids(base_engine, p), GREEDY) for p in PROMPTS]
        return [text for text, _, _ in await asyncio.gather(*jobs)]

    try:
        assert asyncio.run(together()) == alone
    finally:
        base_engine.on_step = lambda batch_size: None
    assert max(steps) == len(PROMPTS)


def test_requests_joining_a_running_batch_get_the_same_answer_as_alone(base_engine):
    long_params = SamplingParams(max_tokens=60, temperature=0.0, ignore_eos=True)
    alone_long = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[1]), long_params))[0]
    alone = asyncio.run(answers_one_at_a_time(base_engine))

    async def staggered():
        first = base_engine.submit(prompt_ids(base_engine, PROMPTS[1]), long_params)
        stream = first.deltas()
        head = [await anext(stream)]  # the long request is running before the others arrive
        others = asyncio.gather(*[complete(base_engine, prompt_ids(base_engine, p), GREEDY) for p in PROMPTS])
        head += [delta async for delta in stream]
        return "".join(d.text for d in head), [text for text, _, _ in await others]

    long_text, texts = asyncio.run(staggered())
    assert long_text == alone_long
    assert texts == alone


def _prefills_of_requests_arriving_together(engine: Engine) -> list[tuple[int, int]]:
    """Submit PROMPTS at once; check each answer equals its answer alone; the prefill input shapes."""
    alone = asyncio.run(answers_one_at_a_time(engine))
    prefills: list[tuple[int, int]] = []

    def record(_module, _args, kwargs):
        if kwargs["input_ids"].shape[1] > 1:
            prefills.append(tuple(kwargs["input_ids"].shape))

    hook = engine.loaded.model.register_forward_pre_hook(record, with_kwargs=True)

    async def together():
        # Holding the engine's lock until all are queued makes them join in the same step.
        with engine._wake:
            gens = [asyncio.ensure_future(complete(engine, prompt_ids(engine, p), GREEDY)) for p in PROMPTS]
            await asyncio.sleep(0)
        return [text for text, _, _ in await asyncio.gather(*gens)]

    try:
        assert asyncio.run(together()) == alone
    finally:
        hook.remove()
    return prefills


def test_requests_arriving_together_are_prefilled_in_one_forward_pass(base_engine):
    """Left-padded prompts of different lengths share one prefill, and each still gets its own answer."""
    longest = max(len(prompt_ids(base_engine, p)) for p in PROMPTS)
    assert _prefills_of_requests_arriving_together(base_engine) == [(len(PROMPTS), longest)]


def test_prefill_groups_stay_within_the_token_budget(base_engine, monkeypatch):
    lengths = [len(prompt_ids(base_engine, p)) for p in PROMPTS]
    budget = 2 * max(lengths)
    monkeypatch.setattr(engine_module, "_PREFILL_TOKENS", budget)
    prefills = _prefills_of_requests_arriving_together(base_engine)
    assert sum(batch for batch, _ in prefills) == len(PROMPTS)
    assert len(prefills) > 1 and all(batch * length <= budget for batch, length in prefills)


def test_cancelled_request_leaves_the_batch(base_engine):
    async def cancel_midway():
        gen = base_engine.submit(prompt_ids(base_engine, "Hello"), SamplingParams(max_tokens=200, ignore_eos=True))
        stream = gen.deltas()
        await anext(stream)
        await stream.aclose()  # the consumer goes away
        for _ in range(200):
            if base_engine.running == 0:
                return gen.completion_tokens
            await asyncio.sleep(0.01)
        return gen.completion_tokens

    tokens = asyncio.run(cancel_midway())
    assert base_engine.running == 0
    assert tokens < 200
