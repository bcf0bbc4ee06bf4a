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
        # The chat input is the last text box (the system prompt comes first).
        box = WebDriverWait(browser, 60).until(
            lambda b: ([e for e in b.find_elements(By.CSS_SELECTOR, "textarea") if e.is_displayed()]
                       or [None])[-1])
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
    assert PHRASE.split()[0] in answer  # the adapter's style, even at the UI's sampling settings
