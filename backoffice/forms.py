"""The back office's forms: what staff type for a command or a repair, with the API's limits
(orders.domain.values, common.http.fields) so that a form refuses what the API refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final

from django import forms
from django.contrib.admin import ModelAdmin, helpers
from django.core.validators import RegexValidator
from django.http import HttpRequest
from django.template.response import TemplateResponse

from common.http.fields import ID_PATTERN
from orders.customers import MAX_REASON_LENGTH
from orders.domain.values import MAX_QUANTITY, MAX_UNIT_PRICE
from projections.read_models.models import OrderView

IDENTIFIER: Final = RegexValidator(ID_PATTERN, "Use 1 to 64 characters of A-Z, a-z, 0-9, _ . : -")
CURRENCY: Final = RegexValidator(r"^[A-Z]{3}\Z", "Three capital letters (ISO 4217), e.g. USD.")
# Rows of the new-order form: enough for an order taken by phone; more are added afterwards.
ITEM_ROWS: Final = 5


def identifier(label: str, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=64, validators=[IDENTIFIER], **kwargs)


class ItemForm(forms.Form):
    product_id = identifier("Product")
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = forms.DecimalField(
        min_value=Decimal(0), max_value=MAX_UNIT_PRICE, decimal_places=2, max_digits=9
    )


class AddressForm(forms.Form):
    line1 = forms.CharField(label="Address line 1", max_length=200)
    line2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(max_length=100)
    postal_code = forms.CharField(max_length=20)
    country = forms.CharField(min_length=2, max_length=64)


class CreateOrderForm(AddressForm):
    customer_id = identifier("Customer")
    currency = forms.CharField(initial="USD", min_length=3, max_length=3, validators=[CURRENCY])

    field_order = ("customer_id", "currency", "line1", "line2", "city", "postal_code", "country")


class ItemRowsBase(forms.BaseFormSet):  # type: ignore[type-arg]
    """The new-order form's item rows: the filled ones, at least one."""

    def clean(self) -> None:
        super().clean()
        if not any(form.cleaned_data for form in self.forms if form.is_valid()):
            raise forms.ValidationError("An order needs at least one item.")


ItemRows = forms.formset_factory(ItemForm, formset=ItemRowsBase, extra=ITEM_ROWS, max_num=ITEM_ROWS)


class OrderCommandForm(forms.Form):
    """A command on one order, with the version staff saw (the form's page sends it): if the
    order has changed since, the command is refused (the API's If-Match) rather than acting on
    what they did not see."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)

    def __init__(self, *args: Any, order: OrderView, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.fields["seen_version"].initial = order.version


class ShipForm(OrderCommandForm):
    carrier = forms.CharField(max_length=100, required=False)
    tracking_number = forms.CharField(max_length=100, required=False)


class CancelForm(OrderCommandForm):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required; kept with the order.",
    )


class ChangeAddressForm(OrderCommandForm, AddressForm):
    pass


class AddItemForm(OrderCommandForm, ItemForm):
    pass


class RemoveItemForm(OrderCommandForm):
    product_id = forms.ChoiceField(label="Product")

    def __init__(self, *args: Any, order: OrderView, **kwargs: Any) -> None:
        super().__init__(*args, order=order, **kwargs)
        items = getattr(order, "items", [])
        field = self.fields["product_id"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (item.product_id, f"{item.product_id} ({item.quantity:,} x {item.unit_price:,.2f})")
            for item in items
        ]


class ShipSelectedForm(forms.Form):
    carrier = forms.CharField(max_length=100, required=False)
    tracking_number = forms.CharField(max_length=100, required=False)


class ForgetCustomersForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "Why are they forgotten (e.g. the customer's request and its reference)? Recorded "
            "in the log with your name and the time; write no personal data here."
        ),
    )


class SkipForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why may this event be left out? Recorded with your name and the time.",
    )


def action_form(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    objects: Iterable[Any],
    form_class: type[forms.Form],
    *,
    title: str,
    submit: str,
    describe: Callable[[Any], str] = str,
    note: str = "",
) -> forms.Form | TemplateResponse:
    """An admin action's form: the valid, submitted form, or the page that asks for it (which
    posts back to the same action with the same selection)."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            return form
    else:
        form = form_class()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "objects": [(obj.pk, describe(obj)) for obj in objects],
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit": submit,
        "note": note,
    }
    return TemplateResponse(request, "backoffice/action_form.html", context)
