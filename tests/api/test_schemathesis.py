"""schemathesis over the whole API, in process, authenticated with a full-scope token.

Every operation gets 50 generated examples (plus schemathesis' deterministic coverage cases,
valid and invalid); each response must not be a 5xx, must use a declared status code, and must
match the declared schema. Speed comes from running in process (no HTTP server), no Hypothesis
deadline, and no shrinking of examples that pass.

CI draws the same examples every run. A deeper local search for 500s:
CRM_SCHEMATHESIS_EXAMPLES=400 CRM_SCHEMATHESIS_RANDOM=1 pytest tests/api/test_schemathesis.py,
with --hypothesis-seed=N to repeat a random run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from crm.activities.services import activity_log, task_create
from crm.api import api
from crm.customers.services import account_create, contact_create, tag_create
from crm.events.services import notification_create
from crm.sales.services import lead_create, opportunity_create, order_create, product_create

from .support import make_token

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does.

    The WSGI handler closes "old" connections at each request's start and end; inside a test's
    transaction that closes the connection under the test on PostgreSQL.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(world: Any, keep_test_connection: None) -> dict[str, str]:
    """Tenant A with a record of each kind (ids 1, 2, ... so generated ids hit real rows)."""
    admin = world.admin
    tag = tag_create(actor=admin, name="VIP")
    account = account_create(actor=admin, values={"name": "星辰科技"}, tag_ids=[tag.pk])
    contact = contact_create(
        actor=admin,
        values={"name": "张三", "email": "zhang@example.com", "phone": "13800138000"},
        account_id=account.pk,
    )
    lead = lead_create(actor=admin, values={"name": "李四", "phone": "13900139000"})
    opportunity = opportunity_create(
        actor=admin, values={"name": "ERP 项目", "amount": "1000.00"}, account_id=account.pk
    )
    activity_log(
        actor=admin,
        record_type="contact",
        record_id=contact.pk,
        values={"kind": "call", "subject": "Hi"},
    )
    task_create(actor=admin, values={"title": "Follow up"}, record_type="lead", record_id=lead.pk)
    product = product_create(actor=admin, values={"name": "Widget", "sku": "W-1", "price": "9.90"})
    order_create(
        actor=admin,
        values={"number": "SO-1", "ordered_at": opportunity.created_at},
        lines=[{"product_id": product.pk, "quantity": "2"}],
        contact_id=contact.pk,
    )
    notification_create(recipient=admin, kind="info", message="Welcome")
    return {"Authorization": f"Bearer {make_token(admin)}"}


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("CRM_SCHEMATHESIS_EXAMPLES", "50")),
    deadline=None,
    derandomize="CRM_SCHEMATHESIS_RANDOM" not in os.environ,
    database=None,  # no .hypothesis directory in the repository
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, auth_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=auth_headers, checks=CHECKS)
