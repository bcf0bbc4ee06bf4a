"""Per-request sampling, stop strings and the device/dtype choice, without a running engine."""

from __future__ import annotations

import pytest
import torch
from aitk_serve import model_loader
from aitk_serve.config import load_settings
from aitk_serve.engine import SamplingParams
from aitk_serve.sampling import RequestSampler
from aitk_serve.text_stream import TextStream
from fixtures_models import build_tokenizer

VOCAB = 50


def sampler(**params) -> RequestSampler:
    return RequestSampler(SamplingParams(max_tokens=10, **params), prompt_ids=[1, 2], stop_ids=frozenset({0}))


def logits(favourite: int = 7) -> torch.Tensor:
    scores = torch.linspace(0, 1, VOCAB)
    scores[favourite] = 5.0
    return scores


def test_frequency_penalty_keeps_greedy_from_repeating_itself():
    s = sampler(temperature=0.0, frequency_penalty=100.0)
    tokens = [s.choose(logits()) for _ in range(5)]
    assert tokens[0] == 7 and len(set(tokens)) == 5


def test_repetition_penalty_covers_the_prompt():
    scores = logits(favourite=2)  # a prompt token
    assert sampler(temperature=0.0).choose(scores.clone()) == 2
    assert sampler(temperature=0.0, repetition_penalty=100.0).choose(scores.clone()) != 2


def test_min_tokens_hold_back_the_stop_tokens():
    assert sampler(temperature=0.0).choose(logits(favourite=0)) == 0
    held = sampler(temperature=0.0, min_tokens=2)
    assert [held.choose(logits(favourite=0)) for _ in range(3)] == [VOCAB - 1, VOCAB - 1, 0]


@pytest.mark.parametrize(("params", "allowed"), [({"top_k": 2}, {7, VOCAB - 1}), ({"min_p": 0.5}, {7})])
def test_top_k_and_min_p_restrict_the_choice(params, allowed):
    s = sampler(temperature=5.0, seed=0, **params)
    assert {s.choose(logits()) for _ in range(40)} <= allowed


def test_top_p_keeps_the_most_likely_tokens_up_to_the_mass():
    scores = torch.full((VOCAB,), -10.0)
    scores[[3, 4, 5]] = torch.tensor([2.0, 1.9, 0.0])
    s = sampler(temperature=1.0, top_p=0.8, seed=1)
    assert {s.choose(scores.clone()) for _ in range(60)} == {3, 4}


def test_same_seed_same_tokens_and_the_global_generator_plays_no_part():
    first = sampler(temperature=1.0, seed=42)
    a = [first.choose(logits()) for _ in range(20)]
    torch.manual_seed(0)
    torch.rand(1000)
    second = sampler(temperature=1.0, seed=42)
    assert [second.choose(logits()) for _ in range(20)] == a


def test_logprobs_are_of_the_raw_distribution_with_alternatives():
    s = sampler(temperature=0.0, logprobs=2, logit_bias=((3, 50.0),))
    assert s.choose(logits()) == 3
    token, value, top = s.logprobs.popleft()
    raw = logits().log_softmax(-1)
    assert token == 3 and value == pytest.approx(float(raw[3]))
    assert [t for t, _ in top] == [7, VOCAB - 1]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def stream_text(tokenizer, text: str, stop: tuple[str, ...]) -> tuple[list[str], bool]:
    stream, pieces = TextStream(tokenizer, stop), []
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        piece, stopped = stream.add(token)
        pieces.append(piece)
        if stopped:
            return pieces, True
    return [*pieces, stream.flush()], False


def test_stop_string_across_tokens_cuts_the_text_before_it(tokenizer):
    pieces, stopped = stream_text(tokenizer, "Hello there, how are you today?", ("how are",))
    assert stopped and "".join(pieces) == "Hello there, "


def test_text_that_only_starts_a_stop_string_is_held_then_released(tokenizer):
    text = "Hello there, how are you today?"
    stop = ("how are they", "x" * 100_000)
    pieces, stopped = stream_text(tokenizer, text, stop)
    assert not stopped and "".join(pieces) == text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    seen = [tokenizer.decode(ids[: i + 1]) for i in range(len(ids))]
    at = next(i for i, consumed in enumerate(seen) if consumed.endswith("how are"))
    assert "".join(pieces[: at + 1]) == "Hello there, "  # held while it could still become the stop string


def test_earliest_stop_string_wins(tokenizer):
    pieces, stopped = stream_text(tokenizer, "Numbers: 0 1 2 3 4 5 6 7 8 9", ("5 6", "2 3 4"))
    assert stopped and "".join(pieces) == "Numbers: 0 1 "


@pytest.mark.parametrize(("capability", "dtype"), [((7, 5), torch.float16), ((8, 0), torch.bfloat16)])
def test_cuda_gets_bf16_only_from_ampere_on(monkeypatch, capability, dtype):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what a T4 answers
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    device, chosen = model_loader.choose_device_and_dtype(load_settings({}))
    assert (device.type, chosen) == ("cuda", dtype)
