"""Forms of the pages: they parse and type-check input; the services validate and decide.

A service refusal (ValidationFailedError with `.fields`) is shown on the same form, field by
field, with the same messages the API answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.activities.models import ActivityKind, TaskStatus
from crm.core.errors import DomainError
from crm.core.timezones import time_zone_names
from crm.customers.models import Channel
from crm.customers.selectors import tag_list
from crm.sales.models import LeadStatus, OrderStatus, Priority
from crm.sales.selectors import pipeline_list, product_list, stage_list
from crm.tenancy.models import Role
from crm.tenancy.selectors import team_list
from crm.web.selectors import active_members

LABELS: dict[str, Any] = {
    "name": _("Name"),
    "company": _("Company"),
    "title": _("Title"),
    "email": _("Email"),
    "phone": _("Phone"),
    "source": _("Source"),
    "region": _("Region"),
    "city": _("City"),
    "status": _("Status"),
    "priority": _("Priority"),
    "score": _("Score"),
    "consent": _("Consent to contact"),
    "notes": _("Notes"),
    "owner": _("Owner"),
    "team": _("Team"),
    "industry": _("Industry"),
    "size": _("Size"),
    "website": _("Website"),
    "external_id": _("External ID"),
    "account": _("Account"),
    "contact": _("Contact"),
    "lead": _("Lead"),
    "wechat": _("WeChat"),
    "id_number": _("ID number"),
    "preferred_channel": _("Preferred channel"),
    "consent_email": _("Email allowed"),
    "consent_sms": _("SMS allowed"),
    "consent_phone": _("Calls allowed"),
    "consent_wechat": _("WeChat allowed"),
    "pipeline": _("Pipeline"),
    "stage": _("Stage"),
    "amount": _("Amount"),
    "currency": _("Currency"),
    "probability": _("Probability %"),
    "expected_close_date": _("Expected close date"),
    "kind": _("Type"),
    "subject": _("Subject"),
    "body": _("Details"),
    "at": _("When"),
    "outcome": _("Outcome"),
    "duration_minutes": _("Duration (minutes)"),
    "due_at": _("Due"),
    "reminder_at": _("Reminder"),
    "assignee": _("Assignee"),
    "sku": _("SKU"),
    "category": _("Category"),
    "price": _("Price"),
    "is_active": _("Active"),
    "number": _("Order number"),
    "ordered_at": _("Ordered at"),
    "total": _("Total"),
    "created_at": _("Created"),
    "updated_at": _("Updated"),
    "first_response_due_at": _("First response due"),
    "last_activity_at": _("Last activity"),
    "stage_entered_at": _("In stage since"),
    "closed_at": _("Closed"),
    "record": _("Related to"),
    "tags": _("Tags"),
    "description": _("Description"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "time_zone": _("Time zone"),
    "language": _("Language"),
    "role": _("Role"),
    "visibility": _("Visibility"),
    "username": _("Username"),
    "display_name": _("Display name"),
    "scopes": _("Scopes"),
    "is_won": _("Won stage"),
    "is_lost": _("Lost stage"),
    "is_default": _("Default"),
}

# Raised in English by crm.core.normalise and translated where they are shown (the services pass
# str(exc) through gettext); listed here so that makemessages keeps them in the catalogue.
RUNTIME_MESSAGES = (
    gettext_noop("Enter a valid phone number."),
    gettext_noop("Enter a valid email address."),
)

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def text(max_length: int, *, required: bool = False, **kwargs: Any) -> forms.CharField:
    return forms.CharField(max_length=max_length, required=required, **kwargs)


def long_text(max_length: int = 20000) -> forms.CharField:
    return forms.CharField(
        max_length=max_length, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


def datetime_field(required: bool = False) -> forms.DateTimeField:
    return forms.DateTimeField(
        required=required, widget=DATETIME_WIDGET, input_formats=DATETIME_FORMATS
    )


class PickerWidget(forms.Widget):
    """A record chooser: a search box over names/pinyin that fills a hidden id."""

    template_name = "web/widgets/picker.html"

    def __init__(self, kind: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.kind = kind
        self.label = ""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["kind"] = self.kind
        context["widget"]["label"] = self.label
        return context


def picker(kind: str) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=PickerWidget(kind)
    )


class LazyChoices:
    """The choices' queryset is made per form, inside the request's tenant (never at import)."""

    queryset_factory: Callable[[], QuerySet[Any]]


class LazyModelChoiceField(LazyChoices, forms.ModelChoiceField):
    def __init__(self, factory: Callable[[], QuerySet[Any]], **kwargs: Any) -> None:
        self.queryset_factory = factory
        super().__init__(queryset=None, **kwargs)


class LazyModelMultipleChoiceField(LazyChoices, forms.ModelMultipleChoiceField):
    def __init__(self, factory: Callable[[], QuerySet[Any]], **kwargs: Any) -> None:
        self.queryset_factory = factory
        super().__init__(queryset=None, **kwargs)


def resolve_choices(form: forms.BaseForm) -> None:
    for form_field in form.fields.values():
        if isinstance(form_field, LazyChoices):
            form_field.queryset = form_field.queryset_factory()  # type: ignore[attr-defined]


def member_field(required: bool = False) -> LazyModelChoiceField:
    return LazyModelChoiceField(active_members, required=required)


def style_widgets(form: forms.BaseForm) -> None:
    """Bootstrap classes on every widget."""
    for form_field in form.fields.values():
        widget = form_field.widget
        if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs.setdefault("class", css)


def mark_invalid(form: forms.BaseForm, field_name: str | None) -> None:
    if field_name and field_name in form.fields:
        widget = form.fields[field_name].widget
        if "is-invalid" not in widget.attrs.get("class", ""):
            widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
        widget.attrs["aria-invalid"] = "true"
        widget.attrs["aria-describedby"] = f"id_{form.add_prefix(field_name)}_error"


class StyledFormMixin:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resolve_choices(self)  # type: ignore[arg-type]
        style_widgets(self)  # type: ignore[arg-type]

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        mark_invalid(self, field)  # type: ignore[arg-type]


class StyledPasswordResetForm(StyledFormMixin, PasswordResetForm):
    pass


class StyledSetPasswordForm(StyledFormMixin, SetPasswordForm):
    pass


class ServiceForm(StyledFormMixin, forms.Form):
    """Labels from LABELS; `only=` narrows to some fields (inline edit); service errors shown."""

    def __init__(self, *args: Any, only: Iterable[str] | None = None, **kwargs: Any) -> None:
        forms.Form.__init__(self, *args, **kwargs)
        if only is not None:
            keep = set(only)
            for name in list(self.fields):
                if name not in keep:
                    del self.fields[name]
        for name, form_field in self.fields.items():
            if name in LABELS and not form_field.label:
                form_field.label = LABELS[name]
        resolve_choices(self)
        style_widgets(self)

    def add_service_error(self, exc: DomainError) -> None:
        """Put each of the service's field messages on the matching form field."""
        for name, messages in (exc.fields or {}).items():
            target: str | None = name
            if name not in self.fields:
                bare = name.removesuffix("_id")
                target = bare if bare in self.fields else None
            for message in messages:
                self.add_error(target, message if target else f"{name}: {message}")
        if not exc.fields:
            self.add_error(None, exc.message)

    def set_picker_label(self, name: str, label: str) -> None:
        if name in self.fields:
            widget = self.fields[name].widget
            if isinstance(widget, PickerWidget):
                widget.label = label


def _web_address(value: str) -> str:
    value = value.strip()
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValidationError(_("Enter a web address starting with http:// or https://."))
    return value


class AccountForm(ServiceForm):
    name = text(200, required=True)
    industry = text(100)
    size = text(40)
    region = text(100)
    city = text(100)
    source = text(60)
    website = text(200, validators=[_web_address])
    phone = text(40)
    external_id = text(100)
    owner = member_field()
    tags = LazyModelMultipleChoiceField(tag_list, required=False)


class ContactForm(ServiceForm):
    name = text(200, required=True)
    title = text(100)
    account = picker("account")
    email = text(254)
    phone = text(40)
    wechat = text(100)
    city = text(100)
    preferred_channel = forms.ChoiceField(choices=[("", "—"), *Channel.choices], required=False)
    consent_email = forms.BooleanField(required=False)
    consent_sms = forms.BooleanField(required=False)
    consent_phone = forms.BooleanField(required=False)
    consent_wechat = forms.BooleanField(required=False)
    external_id = text(100)
    owner = member_field()


class LeadForm(ServiceForm):
    name = text(200, required=True)
    company = text(200)
    title = text(100)
    email = text(254)
    phone = text(40)
    source = text(60)
    region = text(100)
    status = forms.ChoiceField(choices=LeadStatus.choices, initial=LeadStatus.NEW)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)
    consent = forms.BooleanField(required=False)
    notes = long_text()
    owner = member_field()


class OpportunityForm(ServiceForm):
    name = text(200, required=True)
    account = picker("account")
    contact = picker("contact")
    lead = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    pipeline = LazyModelChoiceField(pipeline_list, required=False)
    stage = LazyModelChoiceField(lambda: stage_list().select_related("pipeline"), required=False)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, initial=0)
    currency = text(3, required=True, initial="CNY", min_length=3)
    probability = forms.IntegerField(min_value=0, max_value=100, required=False)
    expected_close_date = forms.DateField(required=False, widget=DATE_WIDGET)
    owner = member_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "stage" in self.fields:
            self.fields["stage"].label_from_instance = (  # type: ignore[attr-defined]
                lambda s: f"{s.pipeline.name} · {s.name}"
            )


class ActivityForm(ServiceForm):
    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL)
    subject = text(200, required=True)
    body = long_text()
    at = datetime_field()
    outcome = text(100)
    duration_minutes = forms.IntegerField(min_value=0, max_value=100_000, required=False)


class TaskForm(ServiceForm):
    title = text(200, required=True)
    notes = long_text()
    due_at = datetime_field()
    reminder_at = datetime_field()
    assignee = member_field()
    status = forms.ChoiceField(choices=TaskStatus.choices, required=False)


class ProductForm(ServiceForm):
    name = text(200, required=True)
    sku = text(60)
    category = text(100)
    price = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, initial=0)
    currency = text(3, required=True, initial="CNY", min_length=3)
    is_active = forms.BooleanField(required=False, initial=True)


class OrderForm(ServiceForm):
    number = text(40, required=True)
    ordered_at = datetime_field(required=True)
    status = forms.ChoiceField(choices=OrderStatus.choices, initial=OrderStatus.PAID)
    currency = text(3, required=True, initial="CNY", min_length=3)
    contact = picker("contact")
    account = picker("account")
    owner = member_field()


class OrderLineForm(ServiceForm):
    product = LazyModelChoiceField(
        lambda: product_list(is_active=True, ordering="name"), required=False
    )
    description = text(200)
    quantity = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, initial=1)
    unit_price = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)


# --- quick actions ------------------------------------------------------------------------------


class LogActivityForm(ActivityForm):
    pass


class QuickTaskForm(ServiceForm):
    title = text(200, required=True)
    due_at = datetime_field()
    reminder_at = datetime_field()
    assignee = member_field()


class OwnerForm(ServiceForm):
    owner = member_field(required=True)


class EmailForm(ServiceForm):
    subject = text(200, required=True)
    body = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 5}))


class MoveForm(forms.Form):
    stage_id = forms.IntegerField(min_value=1)


# --- lists --------------------------------------------------------------------------------------


class BulkForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    action = forms.ChoiceField(choices=[("owner", "owner"), ("tag", "tag"), ("delete", "delete")])
    owner = LazyModelChoiceField(active_members, required=False)
    tag = LazyModelChoiceField(tag_list, required=False)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resolve_choices(self)
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]

    def clean_ids(self) -> list[int]:
        ids = self.cleaned_data["ids"]
        if len(ids) > 500:
            raise ValidationError(_("Choose at most 500 records at a time."))
        return list(ids)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "owner" and not data.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        if data.get("action") == "tag" and not data.get("tag"):
            self.add_error("tag", _("Choose a tag."))
        return data


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    query = forms.CharField(max_length=1000, required=False)


# --- me and settings ----------------------------------------------------------------------------


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in time_zone_names()]


class PreferencesForm(ServiceForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, required=False)


class TenantProfileForm(ServiceForm):
    name = text(200, required=True)
    time_zone = forms.ChoiceField(choices=time_zone_choices)
    currency = text(3, required=True, min_length=3)
    language = forms.ChoiceField(choices=settings.LANGUAGES)


class InviteForm(ServiceForm):
    username = text(150, required=True)
    email = forms.EmailField(max_length=254)
    display_name = text(150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.SALES)
    team = LazyModelChoiceField(team_list, required=False)


class MemberForm(ServiceForm):
    display_name = text(150)
    role = forms.ChoiceField(choices=Role.choices)
    team = LazyModelChoiceField(team_list, required=False)
    is_active = forms.BooleanField(required=False)


class TeamForm(ServiceForm):
    name = text(120, required=True)


class PipelineForm(ServiceForm):
    name = text(100, required=True)
    is_default = forms.BooleanField(required=False)


class StageForm(ServiceForm):
    name = text(100, required=True)
    order = forms.IntegerField(label=_("Position"), min_value=0, max_value=10_000)
    probability = forms.IntegerField(min_value=0, max_value=100)
    is_won = forms.BooleanField(required=False)
    is_lost = forms.BooleanField(required=False)


class TokenForm(ServiceForm):
    name = text(100, required=True)
    scopes = forms.MultipleChoiceField(
        choices=[("read", _("Read")), ("write", _("Write")), ("pii", _("Personal data"))],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
