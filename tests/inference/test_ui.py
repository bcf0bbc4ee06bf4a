"""The Gradio chat page: the layout a ChatInterface user expects, and nothing a page of another site,
an upload or a flood of jobs can use."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from aitk_serve import model_loader
from aitk_serve.config import load_settings
from aitk_serve.state import ServerState
from fixtures_models import LONG
from gradio_client import Client
from gradio_client.utils import QueueError

KEY = "clé-🔑-ui-0987654321"  # non-ASCII on purpose: /v1 and the login must agree on it
SETTINGS = ("System prompt", "Temperature", "Top-p", "Max new tokens")


@pytest.fixture(scope="module")
def keyed_server(share, start_server):
    return start_server({"AITK_SHARE_ROOT": str(share), "AITK_BASE_ONLY": "true", "AITK_API_KEY": KEY})


def _descendants(node: dict) -> list[int]:
    return [child["id"] for child in node.get("children", [])] + [
        i for child in node.get("children", []) for i in _descendants(child)
    ]


def _find(node: dict, component_id: int) -> dict | None:
    if node["id"] == component_id:
        return node
    return next((found for c in node.get("children", []) if (found := _find(c, component_id))), None)


def test_settings_sit_in_one_collapsed_generation_settings_accordion(adapter_server):
    config = httpx.get(adapter_server.url + "/config").json()
    by_label = {c.get("props", {}).get("label"): c for c in config["components"]}
    accordions = [c for c in config["components"] if c["type"] == "accordion"]
    assert [(a["props"]["label"], a["props"]["open"]) for a in accordions] == [("Generation settings", False)]
    inside = _descendants(_find(config["layout"], accordions[0]["id"]))
    assert {by_label[label]["id"] for label in SETTINGS} <= set(inside)
    # Nothing of the settings is drawn a second time outside the accordion.
    outside = [i for i in _descendants(config["layout"]) if i not in inside and i != accordions[0]["id"]]
    assert not {by_label[label]["id"] for label in SETTINGS} & set(outside)


def test_ui_header_names_base_and_adapter_not_local_paths(share):
    settings = load_settings({"AITK_SHARE_ROOT": str(share)})
    state = ServerState(settings, status="ready", engine=SimpleNamespace(loaded=model_loader.load(settings)))
    assert state.headline() == "`tiny-chat` + adapter `adapter` (merged)"
    assert str(share) not in state.headline()


def test_non_ascii_api_key_works_on_v1_and_at_the_ui_login(keyed_server):
    good = httpx.get(keyed_server.url + "/v1/models", headers={"Authorization": b"Bearer " + KEY.encode()})
    wrong = httpx.get(keyed_server.url + "/v1/models", headers={"Authorization": b"Bearer " + "clé".encode()})
    assert (good.status_code, wrong.status_code) == (200, 401)
    ui = Client(keyed_server.url + "/", auth=("anyone", KEY), verbose=False)
    assert isinstance(ui.predict("Hello", "", 0.0, 1.0, 4, api_name="/chat"), str)


def test_login_page_does_not_embed_the_api_description(keyed_server):
    page = httpx.get(keyed_server.url + "/").text
    assert '"auth_required": true' in page or '"auth_required":true' in page
    assert "/chat" not in page and "Max new tokens" not in page


def test_cross_site_requests_are_refused_when_a_key_is_set(keyed_server):
    login = httpx.post(keyed_server.url + "/login", data={"username": "u", "password": KEY})
    cookies = login.cookies
    assert login.status_code == 200 and cookies
    evil = {"Origin": "https://evil.example"}
    assert httpx.get(keyed_server.url + "/config", headers=evil, cookies=cookies).status_code == 403
    assert (
        httpx.post(keyed_server.url + "/gradio_api/queue/join", json={}, headers=evil, cookies=cookies).status_code
        == 403
    )
    assert (
        httpx.post(keyed_server.url + "/login", data={"username": "u", "password": KEY}, headers=evil).status_code
        == 403
    )
    same_site = {"Origin": keyed_server.url}
    assert httpx.get(keyed_server.url + "/config", headers=same_site, cookies=cookies).status_code == 200


def test_uploads_are_refused(adapter_server, keyed_server):
    for server in (adapter_server, keyed_server):
        files = {"files": ("a.txt", b"x" * 1000, "text/plain")}
        response = httpx.post(server.url + "/gradio_api/upload", files=files)
        assert response.status_code == 403
        assert "uploads are disabled" in response.json()["error"]["message"]


def test_ui_queue_is_bounded_like_the_api_queue(one_slot_server):
    server = one_slot_server
    ui = Client(server.url + "/", verbose=False)
    body = {"messages": [{"role": "user", "content": "Hello"}], "stream": True, "max_tokens": LONG, "ignore_eos": True}
    with httpx.Client(timeout=60) as http, http.stream("POST", server.url + "/v1/chat/completions", json=body) as busy:
        next(busy.iter_lines())  # an API request holds the one batch slot
        jobs = [ui.submit("Hello", "", 0.0, 1.0, 4, api_name="/chat") for _ in range(4)]
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(type(job.result(timeout=60)).__name__)
            except QueueError as exc:
                outcomes.append(str(exc))
    # One runs, at most one waits: Gradio refuses the rest, as the API answers 429.
    assert "str" in outcomes
    assert "Queue is full! Please try again." in outcomes
