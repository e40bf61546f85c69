"""Load demo orders through the command service (so the log and read models are real)."""

from __future__ import annotations

import io
import random
from argparse import ArgumentParser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from eventstore.models import Event
from orders.domain import commands as cmd
from orders.domain.values import Address, LineItem
from orders.services import execute_command

CITIES = ["Berlin", "Lisbon", "Oslo", "Austin", "Kyoto", "Lyon"]
PRODUCTS = [f"SKU-{n:03d}" for n in range(1, 31)]


class Command(BaseCommand):
    help = "Create demo orders (skipped when the log already has events unless --force)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--orders", type=int, default=40)
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--days", type=int, default=30, help="Spread the orders over this many past days."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Event.objects.exists() and not options["force"]:
            self.stdout.write("Demo data: the log already has events; nothing added.")
            return
        rng = random.Random(options["seed"])
        now, count = timezone.now(), options["orders"]
        span = timedelta(days=options["days"])

        def run(command: cmd.Command) -> None:
            execute_command(command, actor="demo", correlation_id=str(command.command_id))

        for n in range(count):
            placed = now - span + span * (n + 1) / (count + 1)
            with _recorded_at(placed):
                self._order(rng, run)
        # The read side's own command (orders imports nothing of the projections).
        call_command("run_projections", stdout=io.StringIO())
        self.stdout.write(f"Demo data: {count} orders, {Event.objects.count()} events.")

    def _order(self, rng: random.Random, run: Callable[[cmd.Command], None]) -> None:
        """One demo order: created, then sometimes grown, shipped or cancelled."""
        items = tuple(
            LineItem(pid, rng.randint(1, 5), Decimal(rng.randint(199, 9999)) / 100)
            for pid in rng.sample(PRODUCTS, rng.randint(1, 4))
        )
        city = rng.choice(CITIES)
        create = cmd.CreateOrder(
            customer_id=f"customer-{rng.randint(1, 8)}",
            items=items,
            shipping_address=Address(f"{rng.randint(1, 99)} Main St", city, "10115", "DE"),
        )
        run(create)
        roll = rng.random()
        if roll < 0.3:
            run(
                cmd.AddOrderItem(
                    order_id=create.order_id, item=LineItem("SKU-100", 1, Decimal("4.50"))
                )
            )
        if roll < 0.5:
            run(cmd.ShipOrder(order_id=create.order_id, carrier="DHL", tracking_number="JD0001"))
        elif roll > 0.85:
            run(cmd.CancelOrder(order_id=create.order_id, reason="customer changed their mind"))


@contextmanager
def _recorded_at(moment: datetime) -> Iterator[None]:
    """Demo orders placed in the past: the event store stamps ``recorded_at`` with
    django.utils.timezone.now, which answers ``moment`` here (a demo's device, nothing else
    sets the clock)."""
    with mock.patch.object(timezone, "now", lambda: moment):
        yield
