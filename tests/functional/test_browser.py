"""Live notices in a real browser: headless Chromium, the app, the notifier.

The app is served by waitress on a loopback port and the notifier runs in a
thread.  A real refresher cycle runs against the API test double after its
data was changed, so the notice comes the whole way a production one does:
refresher, Redis, notifier, ``notify.js``; where a test needs events at
precise moments it stores and publishes them as the refresher does.
Debian's ``chromium`` and
``chromium-driver`` are needed; without them the tests are skipped, unless
``STACKWATCH_REQUIRE_BROWSER`` is set (CI), where they fail instead.
"""

import logging
import os
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from webtest.http import StopableWSGIServer

from daemons.notifier import config_from_settings
from tests.notices import NotifierThread, announce, backdate_pages, store_event
from tests.servers import free_port
from webapp import main
from webapp import settings as stackwatch_settings
from webapp.services.redis_link import RedisLink
from webapp.services.refresh import Refresher

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SITE = "beer"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a new, empty profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = "chromium and chromium-driver are not installed"
        if os.environ.get("STACKWATCH_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path keeps Selenium from fetching one.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture
def served(app_settings, session_factory, monkeypatch, caplog):
    """The app under waitress and a notifier that accepts its origin."""
    for variable in (
        *stackwatch_settings.ENV_OVERRIDES,
        stackwatch_settings.HTTP_PORT_VARIABLE,
    ):
        monkeypatch.delenv(variable, raising=False)
    caplog.set_level(logging.DEBUG, logger="daemons.notifier")
    raw = dict(app_settings, **{"notifier.port": str(free_port())})
    app = main({}, **raw)
    server = StopableWSGIServer.create(app, host="127.0.0.1")
    server.wait()

    served = Served(server.adj.port, raw, caplog)
    served.start_notifier()
    yield served
    served.notifier.stop()
    server.shutdown()
    app.registry["dbengine"].dispose()


class Served:
    """The served app's URL and settings, and its notifier."""

    def __init__(self, http_port, raw_settings, caplog):
        self.url = f"http://127.0.0.1:{http_port}"
        self.settings = stackwatch_settings.parse(raw_settings, environ={})
        self.config = config_from_settings(self.settings, raw_settings, http_port)
        self.notifier = None
        self._caplog = caplog

    def start_notifier(self):
        self.notifier = NotifierThread(self.config, self.url).start()

    def open(self, browser, path):
        """Load a page and wait until its script is connected to the notifier."""
        before = self.connections()
        browser.get(self.url + path)
        self.wait_connections(before + 1)

    def wait_connections(self, count, timeout=15):
        deadline = time.monotonic() + timeout
        while self.connections() < count:
            assert time.monotonic() < deadline, "the page did not connect"
            time.sleep(0.05)

    def connections(self):
        """Connections the notifier has accepted so far."""
        records = self._caplog.records
        return sum(r.getMessage().startswith("client connected") for r in records)


def search_id_of(browser):
    return int(browser.current_url.split("/searches/")[1].split("?")[0])


def refresh_cycle(settings, session_factory, redis_url):
    """One refresher cycle, as ``stackwatch-refresher --once`` runs it."""
    backdate_pages(session_factory)
    link = RedisLink(redis_url, 1.0)
    try:
        return Refresher.from_settings(settings, session_factory, link).run_cycle(
            once=True
        )
    finally:
        link.client.close()


def notice(browser, timeout=10):
    wait = WebDriverWait(browser, timeout)
    return wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#notices .notice"))[0]


def console_problems(browser):
    """Console errors about the socket or the CSP; a missing favicon is fine."""
    entries = browser.get_log("browser")
    return [
        e["message"]
        for e in entries
        if "WebSocket" in e["message"] or "Content Security" in e["message"]
    ]


def test_notice_appears_on_the_refreshed_search_page(
    browser, served, api, session_factory, redis_url
):
    api.hide_question(SITE, 5)
    browser.get(served.url + "/search?" + urlencode({"site": SITE, "q": "beer"}))
    search_id = search_id_of(browser)
    served.open(browser, f"/searches/{search_id}?sort=votes&pagesize=100")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-question-id]")
    climber = int(rows[-1].get_attribute("data-question-id"))
    api.set_question(SITE, climber, score=10_000)
    api.reveal_question(SITE, 5)

    started = time.monotonic()
    refresh_cycle(served.settings, session_factory, redis_url)
    shown = notice(browser)

    assert time.monotonic() - started < 10
    assert (
        shown.find_element(By.TAG_NAME, "span").text
        == "beer · beer: 1 new, 1 changed —"
    )
    link = shown.find_element(By.TAG_NAME, "a")
    assert link.text == "reload"
    assert link.get_attribute("href") == browser.current_url
    assert console_problems(browser) == []


def test_search_text_with_markup_shows_as_text(
    browser, served, api, session_factory, redis_url
):
    browser.get(served.url + "/search?" + urlencode({"site": SITE, "q": HOSTILE}))
    search_id = search_id_of(browser)
    served.open(browser, "/")
    api.add_question(
        SITE, {"question_id": 990_001, "title": "img src x onerror alert 1"}
    )

    refresh_cycle(served.settings, session_factory, redis_url)
    shown = notice(browser)

    assert (
        shown.find_element(By.TAG_NAME, "span").text
        == f"beer · {HOSTILE}: 1 new, 0 changed —"
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#notices img") == []
    link = shown.find_element(By.TAG_NAME, "a")
    assert link.text == "open"
    assert link.get_attribute("href") == f"{served.url}/searches/{search_id}"
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert


def test_page_reconnects_and_catches_up_after_a_notifier_restart(
    browser, served, api, session_factory, redis_url
):
    browser.get(served.url + "/search?" + urlencode({"site": SITE, "q": "beer"}))
    search_id = search_id_of(browser)
    served.open(browser, f"/searches/{search_id}")
    announce(session_factory, redis_url, search_id, new=1, changed=0)
    notice(browser)
    connections = served.connections()

    served.notifier.stop()
    # Stored while no notifier ran: the page must ask for it on reconnecting.
    store_event(session_factory, search_id, new=2, changed=5)
    served.start_notifier()
    served.wait_connections(connections + 2)  # the readiness check, then the page

    text = "beer · beer: 3 new, 5 changed —"
    span = "#notices .notice span"
    wait = WebDriverWait(browser, 10)
    wait.until(
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, span)] == [text]
    )
