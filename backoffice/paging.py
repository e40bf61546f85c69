"""Paging changelists of large tables: by primary key (the log), or by page number with a capped
count (the order views).

A numbered page costs a COUNT(*) of everything the filters match and an OFFSET that reads every
row before the page, so page 10,000 of the log is slow. Here a page is "the next N rows before
(or after) this key", read from the primary key's index whatever the depth; nothing is counted.
The changelist is always ordered by the key, newest first.

This is browsing, not following: a page is read again on every load and never kept as a
checkpoint. Like any list, a "newer" page may lack an event committed after it was read with a
lower position (eventstore.store.read_all is how the log is followed).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils.functional import cached_property

BEFORE = "before"
AFTER = "after"


def _key(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


class KeysetChangeList(ChangeList):
    """The rows before ``?before=K`` (or after ``?after=K``), newest first, N at a time.

    Templates get ``newer_url``, ``older_url`` and ``newest_url`` instead of page numbers
    (see templates/admin/keyset_pagination.html).
    """

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.before = _key(request.GET.get(BEFORE))
        self.after = None if self.before is not None else _key(request.GET.get(AFTER))
        super().__init__(request, *args, **kwargs)

    def get_filters_params(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        lookups: dict[str, Any] = super().get_filters_params(params)
        lookups.pop(BEFORE, None)
        lookups.pop(AFTER, None)
        return lookups

    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        return ["-pk"]

    def get_results(self, request: HttpRequest) -> None:
        size = self.list_per_page
        if self.after is not None:
            rows = list(self.queryset.filter(pk__gt=self.after).order_by("pk")[: size + 1])
            has_newer, has_older = len(rows) > size, True
            rows = rows[:size][::-1]
        else:
            queryset = self.queryset
            if self.before is not None:
                queryset = queryset.filter(pk__lt=self.before)
            rows = list(queryset[: size + 1])
            has_newer, has_older = self.before is not None, len(rows) > size
            rows = rows[:size]
        self.result_list = rows
        self.result_count = len(rows)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = bool(rows)
        self.can_show_all = False
        self.multi_page = has_newer or has_older
        self.page_num = 1  # the admin's pagination tag pages this one page
        self.paginator = Paginator(rows, size)
        cursors = [BEFORE, AFTER]
        self.newest_url = self.get_query_string(remove=cursors) if has_newer else None
        self.newer_url = (
            self.get_query_string({AFTER: rows[0].pk}, remove=cursors)
            if has_newer and rows
            else None
        )
        self.older_url = (
            self.get_query_string({BEFORE: rows[-1].pk}, remove=cursors)
            if has_older and rows
            else None
        )


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Numbered pages that count at most ``cap`` matching rows (``SELECT count(*) FROM (… LIMIT
    cap + 1)``): counting every order a broad search matches cost more than reading its page
    (76 ms for 66,000 full-text matches). Templates say "more than {cap}" past the cap
    (templates/admin/projections/orderview/)."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # Unordered: sorted, the planner walked the sort index filtering every row (311 ms)
        # instead of taking the first matches the filter's own index finds.
        matches = self.object_list.order_by()  # type: ignore[attr-defined]
        return int(matches[: self.cap + 1].count())
