"""A real browser through the back office: log in, the dashboard, the log, an event, an order
and its timeline, then cancel the order through the admin form and see it cancelled; and the
API docs. No page breaks the Content-Security-Policy (common.http.csp): every violation the
browser reports fails the test.

Headless Debian Chromium (scripts/test.sh installs chromium and chromium-driver when missing),
against pytest-django's live server; nothing is fetched from the internet. Screenshots of each
page go to test-artifacts/ (not committed; three of them are in docs/screenshots/).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shows
from selenium.webdriver.support.ui import WebDriverWait

from projections.read_models.models import OrderView

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTH, HEIGHT = 1440, 900  # a laptop screen
# Without the networking switches Chromium's own connections (updates, sync, safe browsing)
# are refused here and slow every page down.
CHROMIUM_SWITCHES = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--window-size={WIDTH},{HEIGHT}",
)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, (
        "needs chromium and chromium-driver: ./scripts/test.sh installs them"
    )
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for downloads
    options = Options()
    options.binary_location = chromium
    for switch in (*CHROMIUM_SWITCHES, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(switch)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(60)
    # Every page records what the Content-Security-Policy blocked (before its own scripts run).
    chrome.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.cspViolations"
            ".push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at '"
            " + e.sourceFile + ':' + e.lineNumber));"
        },
    )
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def shop_admin(settings: Any, django_user_model: type[User]) -> tuple[str, str]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django_user_model.objects.create_superuser("admin", "admin@example.com", "browse-it-all")
    call_command("seed_demo", orders=40, stdout=None)
    return "admin", "browse-it-all"


def screenshot(browser: WebDriver, name: str) -> None:
    """What the laptop's screen shows of the page, which must have broken no policy."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    assert_no_csp_violations(browser)


def assert_no_csp_violations(browser: WebDriver) -> None:
    violations = browser.execute_script("return window.cspViolations || []")
    assert violations == [], f"{browser.current_url} broke the CSP: {violations}"


def open_page(browser: WebDriver, url: str, *, showing: str) -> None:
    browser.get(url)
    wait_for_text(browser, showing)


def wait_for_text(browser: WebDriver, text: str) -> None:
    WebDriverWait(browser, 30).until(
        shows.text_to_be_present_in_element((By.TAG_NAME, "body"), text)
    )


def wait_for(browser: WebDriver, css: str) -> None:
    WebDriverWait(browser, 30).until(shows.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_staff_find_an_order_see_its_story_and_cancel_it_in_a_browser(
    browser: WebDriver, live_server: Any, shop_admin: tuple[str, str]
) -> None:
    username, password = shop_admin
    site = live_server.url

    open_page(browser, f"{site}/admin/login/?next=/admin/", showing="Username")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_text(browser, "Orders placed")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")) == 3 * 30
    assert "Top products" in browser.page_source
    screenshot(browser, "dashboard")

    browser.get(f"{site}/admin/eventstore/event/")
    wait_for(browser, ".keyset-paginator a")
    assert browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    screenshot(browser, "events")
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a").click()
    wait_for_text(browser, "Where it came from")
    assert browser.find_elements(By.CSS_SELECTOR, "pre.json .json-key")
    screenshot(browser, "event")

    # A pending order with the longest story so far (created, then an item added).
    order = OrderView.objects.filter(status="pending").order_by("-version", "-created_at").first()
    assert order is not None
    open_page(browser, f"{site}/admin/projections/orderview/?status=pending", showing="pending")
    screenshot(browser, "orders")
    browser.find_element(By.LINK_TEXT, str(order.order_id)).click()
    wait_for(browser, "a.tool-cancel")
    screenshot(browser, "order")

    browser.find_element(By.CSS_SELECTOR, "a.tool-timeline").click()
    wait_for(browser, ".timeline .diff-table")
    browser.find_element(By.PARTIAL_LINK_TEXT, "state at this version").click()
    wait_for(browser, "#as-of .state-table")
    assert "State at version 1" in browser.page_source

    browser.find_element(By.CSS_SELECTOR, "a.tool-order").click()
    wait_for(browser, "a.tool-cancel")
    browser.find_element(By.CSS_SELECTOR, "a.tool-cancel").click()
    wait_for(browser, "textarea[name=reason]")
    browser.find_element(By.NAME, "reason").send_keys("the customer called: wrong size")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value='Cancel this order']").click()
    wait_for_text(browser, f"Order {order.order_id} cancelled.")
    badge = browser.find_element(By.CSS_SELECTOR, ".field-status_badge .badge")
    assert badge.text == "cancelled"
    assert "the customer called: wrong size" in browser.page_source
    screenshot(browser, "order-cancelled")

    browser.find_element(By.CSS_SELECTOR, "a.tool-timeline").click()
    wait_for(browser, f"#v{order.version + 1} .diff-table")
    assert "<del>pending</del>" in browser.page_source
    screenshot(browser, "timeline")


def test_the_api_docs_render_every_operation_under_the_csp(
    browser: WebDriver, live_server: Any
) -> None:
    browser.get(f"{live_server.url}/api/docs/")

    WebDriverWait(browser, 30).until(
        lambda page: len(page.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10
    )
    assert "/api/orders" in browser.page_source
    screenshot(browser, "api-docs")


def test_a_rebuilds_progress_updates_itself_and_the_page_shows_the_switch(
    browser: WebDriver, live_server: Any, shop_admin: tuple[str, str], settings: Any
) -> None:
    """The projections page's figure moves while the rebuild does, with no reload (a marker
    set on the page stays), and the page loads again by itself once the rebuild switched."""
    from projections.engine import generations, rebuild, runner

    settings.PROJECTION_BATCH_SIZE = settings.PROJECTION_CATCHUP_BATCH_SIZE = 10
    username, password = shop_admin
    target = generations.start_rebuild("order_views")
    site = live_server.url
    open_page(
        browser, f"{site}/admin/login/?next=/admin/projections/projectionstate/", showing="Username"
    )
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_text(browser, "generation 2: rebuilding, 0%")
    browser.execute_script("document.body.dataset.loadedOnce = 'yes'")

    runner.run_some("order_views", generation=target.generation, max_batches=3)
    WebDriverWait(browser, 30).until(
        lambda page: (
            "rebuilding, 0%" not in page.find_element(By.CSS_SELECTOR, ".rebuild-text").text
        )
    )
    assert browser.execute_script("return document.body.dataset.loadedOnce") == "yes"
    bar = browser.find_element(By.CSS_SELECTOR, ".rebuild progress")
    assert 0 < float(bar.get_attribute("value") or 0) < float(bar.get_attribute("max") or 0)
    screenshot(browser, "rebuild-progress")

    rebuild.rebuild("order_views")
    WebDriverWait(browser, 30).until(
        lambda page: not page.execute_script("return document.body.dataset.loadedOnce")
    )
    wait_for(browser, "#result_list")
    assert not browser.find_elements(By.CSS_SELECTOR, ".rebuild progress")
