"""Lead capture's channels: signed inbound webhooks, public web forms, and their admin.

A webhook (`webhook_receive`) is verified (HMAC signature, 5-minute window) and captured once
per Idempotency-Key; a web form post (`webform_submit`) passes a honeypot, a rate limit per
address, its required fields and consent. Both hand the lead to
:func:`crm.sales.capture.lead_capture`. Admins create the webhook senders (`lead_source_create`)
and the forms (`web_form_create`, `web_form_snippet`). Re-exported by crm.sales.capture.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from crm.core.context import tenant_context
from crm.core.errors import DomainError, ValidationFailedError
from crm.core.writes import field_error
from crm.events.crud import save_new
from crm.sales.capture import CAPTURE_FIELDS, CaptureResult, lead_capture
from crm.sales.lead_models import LeadChannel, LeadSource, WebForm, WebhookReceipt
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_admin

# --- inbound webhooks ---------------------------------------------------------------------------

WEBHOOK_WINDOW_SECONDS = 300
MAX_IDEMPOTENCY_KEY = 200
SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True)
class WebhookOutcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in X-CRM-Signature: sha256=HMAC(secret, "<ts>." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def _error(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> WebhookOutcome:
    return WebhookOutcome(status, {"code": code, "message": message, "fields": fields or {}})


def webhook_receive(
    *,
    source_key: str,
    timestamp: str | None,
    signature: str | None,
    idempotency_key: str | None,
    body: bytes,
    now: datetime | None = None,
) -> WebhookOutcome:
    """Verify a signed inbound request and capture its lead once per Idempotency-Key.

    Unknown source → 404; missing/bad signature or a timestamp outside ±5 minutes → 401; no
    Idempotency-Key or a body that is not a JSON object → 400: in all of these nothing is
    stored. A replay (same key, same body) answers the first result again; the same key with
    another body → 409.
    """
    now = now or timezone.now()
    source = (
        LeadSource.all_tenants.filter(
            key=source_key, is_active=True, tenant__is_active=True
        ).first()
        if source_key
        else None
    )
    if source is None:
        return _error(404, "not_found", _("No such webhook."))
    if not timestamp or not signature:
        return _error(401, "unauthenticated", _("The request is not signed."))
    expected = webhook_signature(source.secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return _error(401, "unauthenticated", _("The signature does not match."))
    try:
        sent_at = int(timestamp)
    except ValueError:
        return _error(401, "unauthenticated", _("The timestamp is not a number."))
    if abs(now.timestamp() - sent_at) > WEBHOOK_WINDOW_SECONDS:
        return _error(401, "expired", _("The timestamp is outside the 5-minute window."))
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        return _error(
            400, "bad_request", _("An Idempotency-Key header of up to 200 characters is required.")
        )
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        return _error(400, "bad_request", _("The body must be a JSON object."))
    digest = hashlib.sha256(body).hexdigest()
    with tenant_context(source.tenant_id):
        try:
            return _webhook_capture(source, key, digest, payload, now)
        except IntegrityError:
            # Another request with this key committed first (PostgreSQL blocks on the unique
            # index until then): answer what it answered.
            return _replay(source, key, digest)


def _replay(source: LeadSource, key: str, digest: str) -> WebhookOutcome:
    receipt = WebhookReceipt.objects.get(source=source, idempotency_key=key)
    if receipt.body_sha256 != digest:
        return _error(409, "conflict", _("This Idempotency-Key was used with another body."))
    return WebhookOutcome(receipt.status_code, receipt.response, replayed=True)


@transaction.atomic
def _webhook_capture(
    source: LeadSource, key: str, digest: str, payload: dict[str, Any], now: datetime
) -> WebhookOutcome:
    if WebhookReceipt.objects.filter(source=source, idempotency_key=key).exists():
        return _replay(source, key, digest)
    # The receipt is written first: a concurrent request with the same key waits on it.
    receipt = WebhookReceipt.objects.create(
        source=source, idempotency_key=key, body_sha256=digest, status_code=202, response={}
    )
    values = {k: str(payload[k])[:200] for k in CAPTURE_FIELDS if payload.get(k) not in (None, "")}
    values["source"] = source.name
    try:
        with transaction.atomic():
            result = lead_capture(
                actor=None,
                values=values,
                channel=LeadChannel.WEBHOOK,
                product_line=str(payload.get("product_line") or source.product_line)[:60],
                message=str(payload.get("message") or "")[:5000],
                consent=payload.get("consent") is True,
                consent_text=str(payload.get("consent_text") or "")[:500],
                source_ref=source,
                now=now,
            )
        receipt.status_code = 201 if result.created else 200
        receipt.response = result.as_dict()
        receipt.lead = result.lead
    except DomainError as exc:
        receipt.status_code = exc.status
        receipt.response = {"code": exc.code, "message": exc.message, "fields": exc.fields}
    receipt.save(update_fields=["status_code", "response", "lead", "updated_at"])
    return WebhookOutcome(receipt.status_code, receipt.response)


# --- public web forms ---------------------------------------------------------------------------

FORM_FIELDS = ("name", "company", "title", "email", "phone", "region", "message")
HONEYPOT_FIELD = "website"


@dataclass(frozen=True)
class FormOutcome:
    ok: bool
    errors: dict[str, list[str]]
    result: CaptureResult | None = None
    rate_limited: bool = False


def webform_get(*, key: str) -> WebForm | None:
    """The active form with this public key (any tenant: the key names it)."""
    return (
        WebForm.all_tenants.filter(key=key, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .first()
    )


def webform_fields(form: WebForm) -> list[str]:
    chosen = [f for f in form.fields if f in FORM_FIELDS]
    return ["name", *[f for f in chosen if f != "name"]]


def _rate_limited(form: WebForm, address: str) -> bool:
    key = f"crm:webform:{form.pk}:{address}"
    if cache.add(key, 1, timeout=3600):
        return form.rate_limit_per_hour < 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=3600)
        count = 1
    return count > form.rate_limit_per_hour


def webform_submit(
    *, form: WebForm, data: Mapping[str, str], address: str | None, now: datetime | None = None
) -> FormOutcome:
    """A public form post: honeypot, rate limit per address, required fields, consent.

    A filled honeypot answers like a success and stores nothing, so bots learn nothing.
    """
    if data.get(HONEYPOT_FIELD, "").strip():
        return FormOutcome(True, {})
    if _rate_limited(form, address or "unknown"):
        return FormOutcome(
            False,
            {"__all__": [_("Too many submissions. Please try again later.")]},
            rate_limited=True,
        )
    fields = webform_fields(form)
    errors: dict[str, list[str]] = {}
    for name in ("name", *[f for f in form.required if f in fields]):
        if not str(data.get(name, "")).strip():
            errors.setdefault(name, []).append(_("This field is required."))
    consent = str(data.get("consent", "")).lower() in {"on", "1", "true", "yes"}
    if form.consent_required and not consent:
        errors["consent"] = [_("Please agree so that we may contact you.")]
    if errors:
        return FormOutcome(False, errors)
    values = {
        f: str(data.get(f, "")).strip()[:200] for f in fields if f != "message" and data.get(f)
    }
    values["source"] = form.source
    with tenant_context(form.tenant_id):
        try:
            result = lead_capture(
                actor=None,
                values=values,
                channel=LeadChannel.WEBFORM,
                product_line=form.product_line,
                message=str(data.get("message", "")).strip()[:5000] if "message" in fields else "",
                consent=consent,
                consent_text=form.consent_text,
                consent_ip=address,
                web_form=form,
                now=now,
            )
        except ValidationFailedError as exc:
            return FormOutcome(False, exc.fields or {"__all__": [exc.message]})
    return FormOutcome(True, {}, result)


# --- admin: sources and forms -------------------------------------------------------------------


def _public_key() -> str:
    return secrets.token_urlsafe(18).replace("_", "").replace("-", "")[:24].lower()


@transaction.atomic
def lead_source_create(
    *, actor: Membership, name: str, product_line: str = ""
) -> tuple[LeadSource, str]:
    """A webhook sender; returns it with its shared secret (shown to the admin to copy)."""
    require_admin(actor)
    if not name.strip():
        raise field_error("name", _("This field is required."))
    secret = secrets.token_urlsafe(32)
    source = LeadSource(
        name=name.strip()[:60], key=_public_key(), secret=secret, product_line=product_line[:60]
    )
    save_new(actor, source)
    return source, secret


@transaction.atomic
def web_form_create(
    *,
    actor: Membership,
    name: str,
    fields: Sequence[str],
    required: Sequence[str] = (),
    consent_text: str = "",
    consent_required: bool = True,
    success_message: str = "",
    source: str = "webform",
    product_line: str = "",
    rate_limit_per_hour: int = 10,
) -> WebForm:
    require_admin(actor)
    unknown = [f for f in [*fields, *required] if f not in FORM_FIELDS]
    if unknown:
        raise field_error("fields", _("Unknown field: %s") % ", ".join(unknown))
    form = WebForm(
        name=name,
        key=_public_key(),
        fields=list(dict.fromkeys(["name", *fields])),
        required=[f for f in dict.fromkeys(required) if f in ["name", *fields]],
        consent_text=consent_text,
        consent_required=consent_required,
        success_message=success_message,
        source=source,
        product_line=product_line,
        rate_limit_per_hour=rate_limit_per_hour,
    )
    return save_new(actor, form)


def web_form_snippet(form: WebForm, base_url: str) -> str:
    """The HTML an admin pastes into their site."""
    url = f"{base_url.rstrip('/')}/forms/{form.key}/"
    return (
        f'<iframe src="{url}" title="{escape(form.name)}" loading="lazy" '
        'width="100%" height="640" frameborder="0"></iframe>'
    )
