"""Inbound lead webhooks: POST /hooks/leads/<source key>/ signed with the source's secret.

Headers: ``X-CRM-Timestamp`` (Unix seconds), ``X-CRM-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>." + body>``, ``Idempotency-Key``. The tenant comes from the source's row; the
view only translates HTTP to :func:`crm.sales.capture_channels.webhook_receive` and back.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.sales.capture_channels import webhook_receive

MAX_BODY = 256 * 1024


@csrf_exempt  # authenticated by the HMAC signature, not by a session
@require_POST
def lead_webhook(request: HttpRequest, key: str) -> JsonResponse:
    body = request.body
    if len(body) > MAX_BODY:
        return JsonResponse(
            {"code": "too_large", "message": "The request body is too large.", "fields": {}},
            status=413,
        )
    outcome = webhook_receive(
        source_key=key,
        timestamp=request.headers.get("X-CRM-Timestamp"),
        signature=request.headers.get("X-CRM-Signature"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        body=body,
    )
    response = JsonResponse(outcome.body, status=outcome.status)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    if outcome.status == 401:
        response["WWW-Authenticate"] = 'HMAC realm="lead-webhook"'
    return response
