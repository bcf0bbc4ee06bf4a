"""A person's view: headless Chromium opens the endpoint, chats, and sees the streamed answer."""
import base64
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.inference.fixtures_models import PHRASE, TRAIN_PROMPTS
from tests.paths import REPO

OUTPUT = REPO / "test-output" / "browser"
SETTINGS = ("System prompt", "Temperature", "Top-p", "Max new tokens")


def _shown(browser, label: str) -> bool:
    return any(e.is_displayed() for e in browser.find_elements(By.XPATH, f"//*[normalize-space(text())='{label}']"))


def _spki_pin(cert_pem: Path) -> str:
    """Chromium trusts exactly this server key (it ignores REQUESTS_CA_BUNDLE)."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _browser(cloud, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-proxy-server", "--window-size=1280,900",
                f"--user-data-dir={profile}",
                f"--ignore-certificate-errors-spki-list={_spki_pin(cloud.state / 'tls' / 'server.pem')}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def test_the_chat_page_answers_a_typed_message(served, tmp_path):
    endpoint = served.az("aitk-infer", "show-endpoint", "--query", "endpoint", "-o",
                         "tsv").stdout.strip()
    browser = _browser(served.cloud, tmp_path / "profile")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        browser.get(endpoint + "/")
        # The chat input is the only text box shown: the system prompt sits in the collapsed accordion.
        box = WebDriverWait(browser, 60).until(
            lambda b: ([e for e in b.find_elements(By.CSS_SELECTOR, "textarea") if e.is_displayed()]
                       or [None])[-1])
        WebDriverWait(browser, 30).until(lambda b: "merged" in b.find_element(By.TAG_NAME, "body").text)
        header = browser.find_element(By.TAG_NAME, "body").text
        hidden_before = {label: _shown(browser, label) for label in SETTINGS}
        browser.find_element(By.XPATH, "//*[normalize-space(text())='Generation settings']").click()
        shown_after = WebDriverWait(browser, 10).until(
            lambda b: all(_shown(b, label) for label in SETTINGS) and {label: True for label in SETTINGS})
        box.send_keys(TRAIN_PROMPTS[0])
        box.send_keys(Keys.ENTER)
        answer = WebDriverWait(browser, 120).until(
            lambda b: next((e.text for e in b.find_elements(By.CSS_SELECTOR, '[data-testid="bot"]')
                            if e.text.strip()), None))
        page = browser.find_element(By.TAG_NAME, "body").text.lower()
    finally:
        browser.save_screenshot(str(OUTPUT / "chat.png"))
        browser.quit()
    assert (OUTPUT / "chat.png").stat().st_size > 0
    assert "adapter" in page and "merged" in page  # the page says what it serves
    # A short header naming base model and adapter, not the share's local paths.
    assert "/mount" not in header and "model-cache" not in header
    # The settings are inside the collapsed "Generation settings" accordion, not above the chat.
    assert hidden_before == {label: False for label in SETTINGS}
    assert shown_after == {label: True for label in SETTINGS}
    assert PHRASE.split()[0] in answer  # the adapter's style, even at the UI's sampling settings
