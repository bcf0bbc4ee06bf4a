"""Engine behaviour without HTTP: merging, batching, joining, cancelling, per-request sampling."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
from aitk_serve.engine import Engine, GenerationError, QueueFullError, SamplingParams
from aitk_serve.sampling import StepSampler, sample
from engine_helpers import complete, prompt_ids, start_engine

PROMPTS = ["Hello", "What is the capital of France? Tell me more about it please.", "Hi!", "Tell me a story."]
GREEDY = SamplingParams(max_tokens=24, temperature=0.0, ignore_eos=True)


@pytest.fixture(scope="module")
def base_engine(share):
    engine = start_engine(share, AITK_BASE_ONLY="true")
    yield engine
    engine.stop()


async def answers_one_at_a_time(engine: Engine, params: SamplingParams = GREEDY) -> list[str]:
    return [(await complete(engine, prompt_ids(engine, p), params))[0] for p in PROMPTS]


async def answers_together(engine: Engine, params: list[SamplingParams]) -> list[tuple[str, str]]:
    jobs = [complete(engine, prompt_ids(engine, p), q) for p, q in zip(PROMPTS, params, strict=True)]
    return [(text, finish) for text, finish, _ in await asyncio.gather(*jobs)]


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
    try:
        together = asyncio.run(answers_together(base_engine, [GREEDY] * len(PROMPTS)))
    finally:
        base_engine.on_step = lambda batch_size: None
    assert [text for text, _ in together] == alone
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


def test_cancelled_request_leaves_the_batch(base_engine):
    async def cancel_midway():
        gen = base_engine.submit(prompt_ids(base_engine, "Hello"), SamplingParams(max_tokens=200, ignore_eos=True))
        stream = gen.deltas()
        await anext(stream)
        await stream.aclose()  # the consumer goes away
        assert base_engine.running == 0  # at once, not at the next step
        await asyncio.sleep(0.5)
        return gen.completion_tokens

    assert asyncio.run(cancel_midway()) < 200


def test_cancelled_queued_request_leaves_the_queue_at_once_and_is_never_prefilled(share):
    engine = start_engine(share, max_batch_size=1, max_queue=4, AITK_BASE_ONLY="true")
    handed_over: list[list[int]] = []
    add_request = engine._manager.add_request

    def spy(input_ids, **kwargs):
        handed_over.append(list(input_ids))
        return add_request(input_ids, **kwargs)

    engine._manager.add_request = spy
    queued_prompt = prompt_ids(engine, "Tell me a story.")

    async def scenario():
        running = engine.submit(prompt_ids(engine, "Hello"), SamplingParams(max_tokens=40, ignore_eos=True))
        queued = engine.submit(queued_prompt, SamplingParams(max_tokens=5))
        assert (engine.running, engine.waiting) == (1, 1)
        queued.cancel()
        assert engine.waiting == 0
        deltas = [d async for d in queued.deltas()]
        assert [d.finish_reason for d in deltas] == ["abort"] and queued.completion_tokens == 0
        return [d async for d in running.deltas()][-1].finish_reason

    try:
        assert asyncio.run(scenario()) == "length"
    finally:
        engine.stop()
    assert queued_prompt not in handed_over


def test_a_full_queue_refuses_with_retry_after(share):
    engine = start_engine(share, max_batch_size=1, max_queue=1, AITK_BASE_ONLY="true")

    async def scenario():
        params = SamplingParams(max_tokens=30, ignore_eos=True)
        gens = [engine.submit(prompt_ids(engine, "Hello"), params) for _ in range(2)]
        with pytest.raises(QueueFullError) as refused:
            engine.submit(prompt_ids(engine, "Hello"), params)
        for gen in gens:
            gen.cancel()
        return refused.value.retry_after

    try:
        assert asyncio.run(scenario()) >= 1
    finally:
        engine.stop()


def test_seeded_request_gives_the_same_answer_alone_and_in_a_batch(base_engine):
    seeded = SamplingParams(max_tokens=24, temperature=1.0, seed=1234, ignore_eos=True)
    unseeded = SamplingParams(max_tokens=24, temperature=1.0, ignore_eos=True)
    alone = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[0]), seeded))[0]
    together = asyncio.run(answers_together(base_engine, [seeded, unseeded, unseeded, unseeded]))
    other_seed = asyncio.run(
        complete(base_engine, prompt_ids(base_engine, PROMPTS[0]), SamplingParams(**{**seeded.__dict__, "seed": 99}))
    )[0]
    assert together[0][0] == alone
    assert other_seed != alone  # the seed is what makes it repeat


def test_a_failing_request_ends_alone_and_the_batch_goes_on(base_engine):
    alone = asyncio.run(answers_one_at_a_time(base_engine))
    # NaN scores make sampling raise inside the library's generation thread.
    broken = SamplingParams(max_tokens=24, temperature=1.0, logit_bias=((5, float("nan")),), ignore_eos=True)

    async def scenario():
        ids = [prompt_ids(base_engine, p) for p in PROMPTS]
        bad = asyncio.ensure_future(complete(base_engine, ids[0], broken))
        good = [complete(base_engine, i, GREEDY) for i in ids[1:]]
        results = await asyncio.gather(*good)
        with pytest.raises(GenerationError):
            await bad
        return [text for text, _, _ in results]

    assert asyncio.run(scenario()) == alone[1:]
    assert asyncio.run(answers_one_at_a_time(base_engine)) == alone  # the engine still serves


def test_a_batch_mixing_plain_greedy_sampled_and_penalised_rows_gives_each_row_its_answer_alone(base_engine):
    seeded = SamplingParams(max_tokens=24, temperature=0.8, top_p=0.9, seed=7, ignore_eos=True)
    penalised = SamplingParams(max_tokens=24, temperature=0.0, frequency_penalty=1.5, ignore_eos=True)
    plain_sampled = SamplingParams(max_tokens=24, temperature=1.0, top_k=20, ignore_eos=True)  # sampled batched
    mix = [GREEDY, seeded, penalised, plain_sampled]
    alone = [
        asyncio.run(complete(base_engine, prompt_ids(base_engine, p), q))[0] for p, q in zip(PROMPTS, mix, strict=True)
    ]
    together = asyncio.run(answers_together(base_engine, mix))
    assert [text for text, _ in together[:3]] == alone[:3]
    assert together[3][1] == "length"
    assert together[2][0] != asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[2]), GREEDY))[0]


def test_one_batched_sampling_pass_applies_each_rows_own_parameters():
    vocab = 50
    favoured = torch.linspace(0, 1, vocab)
    favoured[7] = 5.0
    top_p_row = torch.full((vocab,), -10.0)
    top_p_row[[3, 4, 5]] = torch.tensor([2.0, 1.9, 0.0])
    rows = [
        SamplingParams(max_tokens=1, temperature=5.0, top_k=2),
        SamplingParams(max_tokens=1, temperature=5.0, min_p=0.5),
        SamplingParams(max_tokens=1, temperature=1.0, top_p=0.8),
    ]
    scores = torch.stack([favoured, favoured, top_p_row])
    drawn = [set() for _ in rows]
    for _ in range(40):
        for seen, token in zip(drawn, sample(scores, rows).tolist(), strict=True):
            seen.add(token)
    assert drawn[0] <= {7, vocab - 1} and drawn[1] == {7} and drawn[2] <= {3, 4}


def test_steps_of_plain_greedy_rows_leave_the_token_choice_to_the_library(base_engine, monkeypatch):
    calls: list[int] = []
    step_call = StepSampler.__call__

    def counted(self, input_ids, scores, *args):
        calls.append(scores.size(0))
        return step_call(self, input_ids, scores, *args)

    monkeypatch.setattr(StepSampler, "__call__", counted)
    asyncio.run(answers_together(base_engine, [GREEDY] * len(PROMPTS)))
    assert calls == []
    seeded = SamplingParams(max_tokens=4, temperature=1.0, seed=1, ignore_eos=True)
    asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[0]), seeded))
    assert calls  # a row that needs its own sampling switches the slot on


def test_a_row_that_fails_in_the_batched_sampling_pass_ends_alone(base_engine):
    alone = asyncio.run(answers_one_at_a_time(base_engine))
    broken = SamplingParams(max_tokens=24, temperature=float("nan"), ignore_eos=True)  # NaN probabilities
    plain_sampled = SamplingParams(max_tokens=24, temperature=1.0, ignore_eos=True)

    async def scenario():
        ids = [prompt_ids(base_engine, p) for p in PROMPTS]
        bad = asyncio.ensure_future(complete(base_engine, ids[0], broken))
        sampled = asyncio.ensure_future(complete(base_engine, ids[1], plain_sampled))
        good = await asyncio.gather(*[complete(base_engine, i, GREEDY) for i in ids[2:]])
        with pytest.raises(GenerationError):
            await bad
        return [text for text, _, _ in good], (await sampled)[1]

    greedy, sampled_finish = asyncio.run(scenario())
    assert greedy == alone[2:] and sampled_finish == "length"


@pytest.mark.parametrize("temperature", [1e-40, 5e-324, 9e-6])
def test_temperature_below_1e_5_is_greedy(base_engine, temperature):
    params = SamplingParams(max_tokens=24, temperature=temperature, ignore_eos=True)
    assert asyncio.run(answers_one_at_a_time(base_engine, params)) == asyncio.run(answers_one_at_a_time(base_engine))


def test_stop_string_ends_the_answer_before_it(base_engine):
    full = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[1]), GREEDY))[0]
    stop = full[5:9]
    params = SamplingParams(max_tokens=24, temperature=0.0, ignore_eos=True, stop=("x" * 100_000, stop))
    text, finish, _ = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[1]), params))
    assert (text, finish) == (full[: full.index(stop)], "stop")


def _engine_greedy_pieces(engine: Engine, ids: list[int], count: int) -> list[bytes]:
    """The bytes of each token of the engine's own greedy answer. The engine's paged attention may break a
    near tie differently from a cache-less forward pass, so the reference comes from the engine itself."""
    params = SamplingParams(max_tokens=count, temperature=0.0, ignore_eos=True, logprobs=0)

    async def run() -> list[bytes]:
        return [bytes(lp.bytes) async for d in engine.submit(ids, params).deltas() for lp in d.logprobs]

    return asyncio.run(run())


def test_stop_token_ids_end_the_answer_and_min_tokens_hold_them_back(base_engine):
    ids = prompt_ids(base_engine, PROMPTS[0])
    pieces = _engine_greedy_pieces(base_engine, ids, 24)
    tokenizer = base_engine.loaded.tokenizer
    stop_piece = next(p for p in pieces[3:] if p.decode("utf-8", "replace") == p.decode("utf-8", "ignore") and p)
    stop_ids = tuple(t for t in range(len(tokenizer)) if tokenizer.decode([t]).encode() == stop_piece)
    first = pieces.index(stop_piece)
    stopped = SamplingParams(max_tokens=24, temperature=0.0, ignore_eos=True, stop_token_ids=stop_ids)
    _, finish, gen = asyncio.run(complete(base_engine, ids, stopped))
    assert (finish, gen.completion_tokens) == ("stop", first + 1)
    held = SamplingParams(**{**stopped.__dict__, "min_tokens": first + 3})
    _, _, gen = asyncio.run(complete(base_engine, ids, held))
    assert gen.completion_tokens >= first + 3


def test_logprobs_come_with_each_token_and_its_alternatives(share):
    engine = start_engine(share)  # the adapter answers in plain ASCII (the random base emits broken bytes)
    params = SamplingParams(max_tokens=12, temperature=0.0, logprobs=3)

    async def run():
        gen = engine.submit(prompt_ids(engine, PROMPTS[0]), params)
        return [delta async for delta in gen.deltas()]

    try:
        deltas = asyncio.run(run())
    finally:
        engine.stop()
    entries = [entry for delta in deltas for entry in delta.logprobs]
    assert len(entries) >= 4  # the end-of-turn token has no text and no entry
    assert bytes(b for e in entries for b in e.bytes).decode() == "".join(d.text for d in deltas)
    for entry in entries:
        assert len(entry.top) == 3 and entry.token == bytes(entry.bytes).decode()
        assert entry.logprob == pytest.approx(max(lp for _, lp, _ in entry.top))  # greedy takes the most likely
        assert entry.logprob <= 0


def test_logit_bias_forces_a_token(base_engine):
    tokenizer = base_engine.loaded.tokenizer
    token = tokenizer.convert_tokens_to_ids("!")
    params = SamplingParams(max_tokens=6, temperature=0.7, seed=3, logit_bias=((token, 100.0),), ignore_eos=True)
    text, _, _ = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[0]), params))
    assert text == "!" * 6


def test_json_schema_constrains_the_answer(base_engine):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "mood": {"enum": ["calm", "glad"]}},
        "required": ["ok", "mood"],
        "additionalProperties": False,
    }
    params = SamplingParams(max_tokens=40, temperature=1.0, seed=5, json_schema=json.dumps(schema))
    text, finish, _ = asyncio.run(complete(base_engine, prompt_ids(base_engine, PROMPTS[0]), params))
    answer = json.loads(text)
    assert finish == "stop" and set(answer) == {"ok", "mood"}
    assert isinstance(answer["ok"], bool) and answer["mood"] in ("calm", "glad")


def test_a_schema_the_grammar_library_refuses_is_a_value_error(base_engine):
    async def submit():
        base_engine.submit(prompt_ids(base_engine, "Hi"), SamplingParams(max_tokens=4, json_schema="[1, 2]"))

    with pytest.raises(ValueError, match="json_schema"):
        asyncio.run(submit())


def test_a_failed_forward_pass_fails_its_requests_and_the_engine_serves_on(share):
    engine = start_engine(share, AITK_BASE_ONLY="true")
    alone = asyncio.run(answers_one_at_a_time(engine))
    failures = [RuntimeError("simulated device error")]

    def fail_once(*_):
        if failures:
            raise failures.pop()

    hook = engine.loaded.model.register_forward_pre_hook(fail_once)
    try:
        with pytest.raises(GenerationError):
            asyncio.run(complete(engine, prompt_ids(engine, PROMPTS[0]), GREEDY))
        assert asyncio.run(answers_one_at_a_time(engine)) == alone
    finally:
        hook.remove()
        engine.stop()
