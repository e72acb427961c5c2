"""Capture through the service and the API, with the duplicate check."""

from __future__ import annotations

import pytest

from crm.activities.models import Activity
from crm.core.errors import ValidationFailedError
from crm.customers.services import account_create, contact_create
from crm.events.models import Notification
from crm.sales.capture import company_similarity, lead_capture, name_similarity
from crm.sales.lead_models import LeadAssignment, LeadIntake
from crm.sales.models import Lead
from tests.api.conftest import Api, make_token

pytestmark = pytest.mark.urls("tests.leads.urls")


def capture(**values: str):
    message = values.pop("message", "")
    product_line = values.pop("product_line", "")
    return lead_capture(
        actor=None, values=values, channel="api", message=message, product_line=product_line
    )


def test_a_new_lead_is_scored_with_reasons_and_assigned(flow) -> None:
    result = capture(
        name="张三",
        company="艾克米",
        email="zs@example.com",
        phone="13800138000",
        source="referral",
    )
    lead = Lead.objects.get()
    assert result.created and result.lead == lead
    assert lead.owner in flow.reps and lead.team == flow.team
    assert lead.first_response_due_at is not None
    assert 0 < lead.score <= 100 and lead.priority in {"high", "medium", "low"}
    assert len(lead.score_reasons) == 3
    assert {"code", "impact", "value", "text"} <= set(lead.score_reasons[0])
    assert lead.score_reasons[0]["code"] == "source" and "referral" in lead.score_reasons[0]["text"]
    intake = LeadIntake.objects.get(lead=lead)
    assert intake.scored_by == "rules" and intake.assigned_at is not None
    log = LeadAssignment.objects.get(lead=lead)
    assert log.kind == "auto" and log.member == lead.owner and "Lowest load" in log.reason
    assert Notification.objects.filter(recipient=lead.owner, kind="lead_assigned").count() == 1


def test_duplicate_by_email_attaches_an_inquiry_and_tells_the_owner(flow) -> None:
    first = capture(name="John Smith", email="John@Example.com")
    again = capture(name="J. Smith", email="john@example.com ", message="Any news?")
    assert again.created is False
    assert again.duplicate.record == first.lead and again.duplicate.how == "email"
    assert Lead.objects.count() == 1
    inquiry = Activity.objects.get(record_type="lead", record_id=first.lead.pk)
    assert inquiry.outcome == "inquiry" and "Any news?" in inquiry.body
    assert "john@example.com" not in inquiry.body  # personal data stays encrypted
    note = Notification.objects.get(kind="lead_duplicate")
    assert note.recipient == first.lead.owner and "John Smith" in note.message


def test_duplicate_by_email_with_a_plus_tag(flow) -> None:
    """The same rule as the duplicate scan: a+news@x.com is a@x.com (and dots in Gmail)."""
    first = capture(name="Ann Lee", email="ann@example.com")
    tagged = capture(name="Ann Lee", email="Ann+newsletter@Example.com")
    assert tagged.created is False and tagged.duplicate.how == "email"
    assert tagged.duplicate.record == first.lead
    gmail = capture(name="Bo Chen", email="bochen@gmail.com")
    again = capture(name="Bo Chen", email="Bo.Chen+crm@googlemail.com")
    assert again.created is False and again.duplicate.record == gmail.lead
    other = capture(name="Ann Lee", email="ann@other.example.com")
    assert other.created is True
    assert Lead.objects.count() == 3


def test_a_stored_alias_is_found_from_the_plain_address_and_from_another_alias(flow) -> None:
    """The address on record is the alias (the first form was signed up with a +tag): the
    plain address, another +tag and the Gmail spellings reach the same lead."""
    first = capture(name="Ann Lee", email="ann+newsletter@example.com")
    plain = capture(name="Ann Lee", email="ann@example.com", message="Still interested")
    assert plain.created is False and plain.duplicate.record == first.lead
    assert plain.duplicate.how == "email"
    other_tag = capture(name="Ann Lee", email="ann+webinar@example.com")
    assert other_tag.created is False and other_tag.duplicate.record == first.lead
    gmail = capture(name="Bo Chen", email="bo.chen+crm@gmail.com")
    again = capture(name="Bo Chen", email="bochen@googlemail.com")
    assert again.created is False and again.duplicate.record == gmail.lead
    stranger = capture(name="Ann Lee", email="ann@other.example.com")
    assert stranger.created is True
    assert Lead.objects.count() == 3


def test_duplicate_by_phone_in_another_format(flow) -> None:
    first = capture(name="李四", phone="138 0013 8000")
    for other in ("+86 138-0013-8000", "13800138000", "+8613800138000"):
        result = capture(name="Li Si", phone=other)
        assert result.created is False and result.duplicate.how == "phone"
        assert result.duplicate.record == first.lead
    assert Lead.objects.count() == 1
    assert Activity.objects.filter(record_type="lead", record_id=first.lead.pk).count() == 3


def test_duplicate_by_pinyin_name_and_company(flow) -> None:
    first = capture(name="张伟", company="阿里巴巴")
    result = capture(name="Zhang Wei", company="Alibaba")
    assert result.created is False and result.duplicate.how == "name_company"
    assert result.duplicate.record == first.lead
    result = capture(name="Wei Zhang", company="阿里巴巴有限公司", email="wz@example.com")
    assert result.created is False and result.duplicate.record == first.lead
    lead = Lead.objects.get()
    assert lead.email == "wz@example.com"  # the inquiry filled the missing email
    # Same name at another company is another person.
    other = capture(name="Zhang Wei", company="腾讯")
    assert other.created is True and Lead.objects.count() == 2
    # A name alone is not enough: 张伟 is too common.
    assert capture(name="张伟").created is True


def test_duplicate_of_a_contact_attaches_to_the_contact(flow) -> None:
    world = flow.world
    account = account_create(actor=world.sales, values={"name": "华为"})
    contact = contact_create(
        actor=world.sales, values={"name": "王芳", "email": "wf@hw.com"}, account_id=account.pk
    )
    by_email = capture(name="Fang Wang", email="WF@hw.com")
    by_name = capture(name="Wang Fang", company="Huawei")
    assert by_email.duplicate.record == contact and by_email.duplicate.record_type == "contact"
    assert by_name.duplicate.record == contact and by_name.duplicate.how == "name_company"
    assert Lead.objects.count() == 0
    assert Activity.objects.filter(record_type="contact", record_id=contact.pk).count() == 2
    assert Notification.objects.filter(recipient=world.sales, kind="lead_duplicate").count() == 2


def test_similarity_functions() -> None:
    assert name_similarity("张伟", "Zhang Wei") == 100
    assert name_similarity("张伟", "wei zhang") == 100
    assert name_similarity("张伟", "张维") == 100  # same pinyin
    assert name_similarity("张伟", "王伟") < 90
    assert company_similarity("阿里巴巴集团", "Alibaba Group Ltd.") == 100
    assert company_similarity("Acme Inc", "Acme") == 100
    assert company_similarity("Acme", "Apex") < 85


def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(flow) -> None:
    with pytest.raises(ValidationFailedError) as err:
        capture(name="x", email="not-an-email")
    assert "email" in err.value.fields
    with pytest.raises(ValidationFailedError) as err:
        capture(name=" ")
    assert "name" in err.value.fields
    with pytest.raises(ValidationFailedError) as err:
        lead_capture(actor=None, values={"name": "x", "owner_id": 1}, channel="api")
    assert "owner_id" in err.value.fields
    assert Lead.objects.count() == 0 and LeadAssignment.objects.count() == 0


def test_api_capture_creates_then_attaches(flow) -> None:
    api = Api(make_token(flow.world.sales))
    response = api.post(
        "/lead-flow/capture",
        {
            "name": "赵六",
            "company": "字节跳动",
            "email": "zl@example.com",
            "source": "event",
            "message": "想了解报价",
            "consent": True,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["owner_id"] in {r.pk for r in flow.reps}
    assert len(body["reasons"]) == 3 and body["priority"] in {"high", "medium", "low"}
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.consent is True and LeadIntake.objects.get(lead=lead).message == "想了解报价"
    again = api.post("/lead-flow/capture", {"name": "Zhao Liu", "email": "ZL@example.com"})
    assert again.status_code == 200
    assert again.json()["duplicate_of"] == {
        "type": "lead",
        "id": lead.pk,
        "match": "email",
        "score": 100.0,
    }
    bad = api.post("/lead-flow/capture", {"name": "x", "email": "nope", "tenant": 2})
    assert bad.status_code == 422 and "tenant" in bad.json()["fields"]
    assert Lead.objects.count() == 1


def test_api_capture_needs_a_token_with_write(flow) -> None:
    assert Api().post("/lead-flow/capture", {"name": "x"}).status_code == 401
    reader = Api(make_token(flow.world.sales, scopes=("read",)))
    assert reader.post("/lead-flow/capture", {"name": "x"}).status_code == 403
    assert Lead.objects.count() == 0
