"""Each role's day in a real browser, on a big shop (10,000 orders and an order of 20,000
events, written to the log by SQL and caught up by the projections), with a real Celery worker
on Redis applying what the staff do:

- a clerk takes an order by phone with two items, adds and removes an item, changes the
  address, ships it and finds all of it in the timeline under their name;
- support staff see the same pages, and every command is refused them;
- an operator sees the banner come when the worker stops and a poison event halts the
  projections, skips the event with a reason, and sees the banner go.

Headless Debian Chromium as in test_browser.py; screenshots of each role's first page, the
new-order form and the stale banner go to test-artifacts/ (copied to docs/screenshots/).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.apps import apps
from django.contrib.auth.models import Group, User
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from backoffice.roles import ensure_roles
from eventstore.models import Event
from orders.domain import events as ev
from orders.streams import stream_id_for
from projections.engine.generations import active_state
from projections.engine.wakeups import CATCH_UP
from projections.read_models.models import OrderView
from tests.backoffice.big_shop import fill_orders
from tests.backoffice.long_stream import append_long_order
from tests.backoffice.test_browser import browser, screenshot, wait_for, wait_for_text
from tests.projections import builders as b
from tests.projections.conftest import CeleryOnRedis
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
__all__ = ["browser"]  # the fixture, shared with test_browser.py

ORDERS, LONG_STREAM_EVENTS = 10_000, 20_000
PASSWORD = "a long enough password"
STAFF = {"clerk": "order-clerks", "support": "support", "operator": "projection-operators"}
NAMES = {"clerk": "anna.clerk", "support": "sam.support", "operator": "olga.ops"}


class Worker:
    """A Celery worker (solo pool, in a thread of this process) that can be stopped and started
    again, and beat's sweep, sent by hand while the test waits."""

    def __init__(self, celery: CeleryOnRedis) -> None:
        self.celery = celery
        self.running: contextlib.ExitStack | None = None

    def start(self) -> None:
        self.running = contextlib.ExitStack()
        self.running.enter_context(
            start_worker(
                self.celery.app,
                pool="solo",
                perform_ping_check=False,
                shutdown_timeout=30,
                queues=[self.celery.queue],
            )
        )

    def stop(self) -> None:
        if self.running is not None:
            self.running.close()
            self.running = None

    def sweep(self) -> None:
        self.celery.app.tasks[CATCH_UP].delay()


@pytest.fixture
def worker(celery_on_redis: CeleryOnRedis) -> Iterator[Worker]:
    running = Worker(celery_on_redis)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def big_shop(settings: Any, django_user_model: type[User]) -> uuid.UUID:
    """10,000 orders, one order of 20,000 events, caught up; a member of each role."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROJECTION_RETRY_BACKOFF_SECONDS = 0
    settings.PROJECTION_MAX_ATTEMPTS = 2
    settings.BACKOFFICE_STALE_AFTER_SECONDS = 3  # the banner soon after the worker stops
    fill_orders(ORDERS)
    long_order = append_long_order(LONG_STREAM_EVENTS)
    b.catch_up_until_applied(timeout=300)
    ensure_roles(apps)  # the migration's groups (transactional tests empty the tables)
    for role, group in STAFF.items():
        user = django_user_model.objects.create_user(NAMES[role], password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    assert OrderView.objects.count() == ORDERS + 1
    return long_order


def log_in(browser: WebDriver, site: str, role: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site}/admin/login/?next=/admin/")
    wait_for(browser, "input[name=username]")
    browser.find_element(By.NAME, "username").send_keys(NAMES[role])
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(browser, "nav.sections")


def fill(browser: WebDriver, **fields: str) -> None:
    for name, value in fields.items():
        box = browser.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)


def submit(browser: WebDriver, label: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f"input[type=submit][value='{label}']").click()


def tool(browser: WebDriver, css: str) -> None:
    wait_for(browser, f".object-tools a.{css}")
    browser.find_element(By.CSS_SELECTOR, f".object-tools a.{css}").click()


def banner(browser: WebDriver) -> str:
    found = browser.find_elements(By.ID, "stale-banner")
    return found[0].text if found else ""


def reload_until(browser: WebDriver, condition: Any, what: str, worker: Worker | None) -> None:
    """Reload the page until ``condition(browser)`` holds (sweeping as beat would)."""

    def holds() -> bool:
        if worker is not None and worker.running is not None:
            worker.sweep()
        browser.refresh()
        return bool(condition(browser))

    wait_until(holds, timeout=90, interval=0.5, what=what)


def test_each_role_does_its_days_work_on_a_big_shop(
    browser: WebDriver, live_server: Any, big_shop: uuid.UUID, worker: Worker
) -> None:
    site = live_server.url
    order_id = clerk_takes_and_ships_an_order(browser, site)
    clerk_pages_through_a_long_order(browser, site, big_shop)
    support_sees_everything_and_changes_nothing(browser, site, order_id)
    operator_repairs_the_read_side(browser, site, worker)


def clerk_takes_and_ships_an_order(browser: WebDriver, site: str) -> uuid.UUID:
    log_in(browser, site, "clerk")
    wait_for_text(browser, "waiting to ship")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    screenshot(browser, "role-clerk")

    browser.find_element(By.LINK_TEXT, "Take an order").click()
    wait_for(browser, "input[name=customer_id]")
    fill(
        browser,
        customer_id="phone-caller-7",
        currency="EUR",
        line1="5 Harbour Road",
        city="Lisbon",
        postal_code="1100-001",
        country="PT",
        **{
            "items-0-product_id": "kettle",
            "items-0-quantity": "2",
            "items-0-unit_price": "1234.50",
            "items-1-product_id": "mug",
            "items-1-quantity": "6",
            "items-1-unit_price": "4.00",
        },
    )
    screenshot(browser, "create-order")
    submit(browser, "Create the order")
    wait_for_text(browser, "created.")
    order = OrderView.objects.get(customer_id="phone-caller-7")
    assert "2,493.00 EUR" in browser.page_source

    tool(browser, "tool-add-item")
    fill(browser, product_id="tea-towel", quantity="3", unit_price="5.25")
    submit(browser, "Add the item")
    wait_for_text(browser, "now has the item")
    assert "tea-towel" in browser.page_source

    tool(browser, "tool-remove-item")
    Select(browser.find_element(By.NAME, "product_id")).select_by_value("mug")
    submit(browser, "Remove the item")
    wait_for_text(browser, "no longer has the item")

    tool(browser, "tool-address")
    fill(browser, city="Porto", postal_code="4000-001")
    submit(browser, "Change the address")
    wait_for_text(browser, "has a new shipping address")

    tool(browser, "tool-ship")
    fill(browser, carrier="CTT", tracking_number="RR123456789PT")
    submit(browser, "Ship this order")
    wait_for_text(browser, "shipped.")
    assert browser.find_element(By.CSS_SELECTOR, ".field-status_badge .badge").text == "shipped"

    tool(browser, "tool-timeline")
    wait_for(browser, ".timeline .diff-table")
    entries = browser.find_elements(By.CSS_SELECTOR, ".timeline-entry .timeline-head")
    assert [e.find_element(By.TAG_NAME, "strong").text for e in entries] == [
        "Shipped",
        "Address changed",
        "Item removed",
        "Item added",
        "Order created",
    ]
    assert {e.find_element(By.CSS_SELECTOR, ".timeline-actor").text for e in entries} == {
        NAMES["clerk"]
    }
    assert "5 Harbour Road, 4000-001, Porto, PT" in browser.page_source
    screenshot(browser, "clerk-timeline")
    events = Event.objects.filter(stream_id=stream_id_for(order.order_id))
    assert {e.metadata["actor"] for e in events} == {NAMES["clerk"]}
    assert len({e.metadata["correlation_id"] for e in events}) == 5
    return order.order_id


def clerk_pages_through_a_long_order(browser: WebDriver, site: str, order_id: uuid.UUID) -> None:
    began = time.monotonic()
    browser.get(f"{site}/admin/streams/{stream_id_for(order_id)}/")
    wait_for_text(browser, "versions 20,000 to 19,951 of 20,000")
    browser.find_element(By.ID, "jump-to").clear()
    browser.find_element(By.ID, "jump-to").send_keys("12345")
    browser.find_element(By.CSS_SELECTOR, "form.jump input[type=submit]").click()
    wait_for_text(browser, "versions 12,345 to 12,296 of 20,000")
    assert browser.find_element(By.ID, "v12345")
    screenshot(browser, "long-timeline")
    browser.find_element(By.CSS_SELECTOR, "a.page-older").click()
    wait_for_text(browser, "versions 12,295 to 12,246 of 20,000")
    assert time.monotonic() - began < 60  # three pages of a 20,000-event stream


def support_sees_everything_and_changes_nothing(
    browser: WebDriver, site: str, order_id: uuid.UUID
) -> None:
    before = Event.objects.count()
    log_in(browser, site, "support")
    wait_for_text(browser, "waiting to ship")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.section-name")] == [
        "ORDERS",
        "EVENT LOG",
        "OPERATIONS",
    ]
    assert not browser.find_elements(By.LINK_TEXT, "Take an order")
    screenshot(browser, "role-support")

    for url in (
        f"/admin/projections/orderview/{order_id}/change/",
        f"/admin/streams/{stream_id_for(order_id)}/",
        f"/admin/projections/orderview/{order_id}/history/",
        "/admin/eventstore/event/",
        "/admin/projections/projectionstate/",
        "/admin/projections/customersummary/?q=phone-caller-7",
        "/admin/projections/dailysales/",
    ):
        browser.get(f"{site}{url}")
        wait_for(browser, "#content-main")
        assert "Not allowed" not in browser.title, url
    browser.get(f"{site}/admin/projections/orderview/{order_id}/change/")
    wait_for(browser, ".object-tools")
    assert not browser.find_elements(By.CSS_SELECTOR, "a.tool-cancel, a.tool-ship")

    pending = OrderView.objects.filter(status="pending").values_list("order_id", flat=True)[0]
    for url in [
        f"/admin/projections/orderview/{pending}/{name}/"
        for name in ("ship", "cancel", "address", "add-item", "remove-item")
    ] + ["/admin/projections/orderview/new/"]:
        browser.get(f"{site}{url}")
        wait_for_text(browser, "Your role may not see or do this")
    assert Event.objects.count() == before


def operator_repairs_the_read_side(browser: WebDriver, site: str, worker: Worker) -> None:
    log_in(browser, site, "operator")
    wait_for_text(browser, "projections now")
    assert banner(browser) == ""
    screenshot(browser, "role-operator")

    worker.stop()
    b.place_order(customer_id="while-stopped")  # its wake-up waits in Redis, unread
    stranger, _ = b.append_new_order(customer_id="stranger")
    # An item removed that was never added: no read model can fold it.
    poison = b.append_order_events(stranger, [ev.OrderItemRemoved(stranger, "never-added")])
    browser.get(f"{site}/admin/projections/projectionstate/")
    reload_until(
        browser, lambda page: "updating them is behind" in banner(page), "the banner: behind", None
    )
    assert "Orders (the order list, searches and order pages)" in banner(browser)

    worker.start()
    reload_until(
        browser,
        lambda page: banner(page).count("stopped at an event that fails") == 3,
        "the banner: every read model halted at the poison event",
        worker,
    )
    assert "projection order_views" in banner(browser)
    screenshot(browser, "stale-banner")
    assert all(
        active_state(name).error_position == poison.last_position
        for name in b.READ_MODEL_PROJECTIONS
    )

    for box in browser.find_elements(By.CSS_SELECTOR, "input.action-select"):
        box.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("skip")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait_for(browser, "textarea[name=reason]")
    assert f"stopped at event {poison.last_position}" in browser.page_source
    fill(browser, reason="removes an item the order never had: a bad import, nothing to show")
    submit(browser, "Skip it")
    wait_for_text(browser, "it is moving again")
    reload_until(browser, lambda page: banner(page) == "", "the banner to go", worker)
    browser.get(f"{site}/admin/projections/projectionskip/")
    wait_for_text(browser, "a bad import, nothing to show")
    assert browser.page_source.count(NAMES["operator"]) >= 3
    b.catch_up_until_applied(timeout=60)  # and everything after the poison is applied
    assert OrderView.objects.filter(customer_id="while-stopped").exists()


@pytest.fixture(autouse=True)
def _artifacts_folder() -> None:
    Path(__file__).resolve().parents[2].joinpath("test-artifacts").mkdir(exist_ok=True)
