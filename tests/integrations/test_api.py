from __future__ import annotations

import base64
import csv
import io

from django.test import Client

from crm.activities.services import activity_log
from crm.core.context import tenant_context
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.integrations.models import ImportJob, MergeRecord
from crm.tenancy.services import api_token_create

from .helpers import csv_bytes


def client_for(member, scopes=("read", "write", "pii")) -> tuple[Client, dict[str, str]]:
    with tenant_context(member.tenant_id):
        _token, secret = api_token_create(actor=member, name="t", scopes=scopes)
    return Client(), {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def test_upload_map_preview_run_and_download_failed_rows(
    world, django_capture_on_commit_callbacks
) -> None:
    client, auth = client_for(world.admin)
    content = csv_bytes(
        [
            ["客户名", "Mail", "手机号"],
            ["张三", "z@example.com", "13800138000"],
            ["", "x@example.com", "1"],
        ]
    )
    upload = io.BytesIO(content)
    upload.name = "list.csv"
    response = client.post("/api/v1/imports", {"file": upload, "target": "contact"}, headers=auth)
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["mapping"] == ["", "email", "phone"] and job["status"] == "uploaded"
    response = client.patch(
        f"/api/v1/imports/{job['id']}",
        {"mapping": ["name", "email", "phone"], "save_template_as": "My CRM export"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    preview = client.get(f"/api/v1/imports/{job['id']}/preview", headers=auth).json()
    assert [p["action"] for p in preview] == ["create", "fail"]
    assert set(preview[1]["errors"]) == {"name", "phone"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/imports/{job['id']}/start", {}, content_type="application/json", headers=auth
        )
    assert response.status_code == 200
    done = client.get(f"/api/v1/imports/{job['id']}", headers=auth).json()
    assert (done["status"], done["percent"], done["created_count"], done["failed_count"]) == (
        "done",
        100,
        1,
        1,
    )
    failed = client.get(f"/api/v1/imports/{job['id']}/failed-rows.csv", headers=auth)
    rows = list(csv.reader(io.StringIO(b"".join(failed.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["客户名", "Mail", "手机号", "错误 Error"] and rows[1][1] == "x@example.com"
    templates = client.get("/api/v1/import-templates?target=contact", headers=auth).json()
    assert templates[0]["mapping"] == {"客户名": "name", "mail": "email", "手机号": "phone"}
    again = io.BytesIO(content)
    again.name = "again.csv"
    second = client.post(
        "/api/v1/imports",
        {"file": again, "target": "contact", "template_id": templates[0]["id"]},
        headers=auth,
    ).json()
    assert second["mapping"] == ["name", "email", "phone"]


def test_merge_endpoint_and_undo(world) -> None:
    client, auth = client_for(world.admin)
    a = contact_create(actor=world.admin, values={"name": "张三", "email": "z@example.com"})
    b = contact_create(actor=world.admin, values={"name": "Zhang San", "title": "CEO"})
    activity_log(
        actor=world.admin,
        record_type="contact",
        record_id=b.pk,
        values={"kind": "note", "subject": "hi"},
    )
    response = client.post(
        f"/api/v1/contacts/{a.pk}/merge",
        {"other_id": b.pk, "fields": {"name": "survivor"}},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201, response.content
    merge = response.json()
    assert merge["relinked"]["activity"] and Contact.objects.get(pk=a.pk).title == "CEO"
    assert Contact.objects.get(pk=a.pk).name == "张三"
    bad = client.post(
        f"/api/v1/contacts/{a.pk}/merge",
        {"other_id": 999999},
        content_type="application/json",
        headers=auth,
    )
    assert bad.status_code == 422 and "other_id" in bad.json()["fields"]
    sales_client, sales_auth = client_for(world.sales)
    hidden = sales_client.post(
        f"/api/v1/contacts/{a.pk}/merge",
        {"other_id": b.pk},
        content_type="application/json",
        headers=sales_auth,
    )
    assert hidden.status_code == 404
    retried = client.post(
        f"/api/v1/contacts/{a.pk}/merge",
        {"other_id": b.pk},
        content_type="application/json",
        headers=auth,
    )
    assert retried.status_code == 201 and retried.json()["id"] == merge["id"]
    assert MergeRecord.objects.count() == 1
    undo = client.post(
        f"/api/v1/merges/{merge['id']}/undo", {}, content_type="application/json", headers=auth
    )
    assert undo.status_code == 200 and undo.json()["undone_at"]
    assert Contact.objects.get(pk=b.pk).deleted_at is None


def test_export_download_masks_without_pii_scope(world) -> None:
    contact_create(actor=world.admin, values={"name": "王五", "phone": "13800138000"})
    client, auth = client_for(world.admin, scopes=("read",))
    response = client.get("/api/v1/exports/download?target=contact", headers=auth)
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "13800138000" not in text and "'+86138****8000" in text
    filtered = client.get("/api/v1/exports/download?target=contact&search=nobody", headers=auth)
    assert filtered.content.decode("utf-8-sig").count("\n") == 1  # the header row only
    refused = client.get("/api/v1/exports/download?target=contact&colour=red", headers=auth)
    assert refused.status_code == 422 and "colour" in refused.json()["fields"]
    xlsx = client.get("/api/v1/exports/download?target=contact&file_format=xlsx", headers=auth)
    assert xlsx.status_code == 200 and xlsx["Content-Disposition"].startswith("attachment")


def test_json_upload_with_text_or_base64_and_its_errors(world) -> None:
    client, auth = client_for(world.admin)
    text = "姓名,邮箱\n张三,z@example.com\n"

    def send(body: object) -> object:
        return client.post("/api/v1/imports", body, content_type="application/json", headers=auth)

    plain = send({"target": "contact", "file_name": "a.csv", "content": text})
    assert plain.status_code == 201, plain.content
    assert plain.json()["mapping"] == ["name", "email"]
    encoded = base64.b64encode(text.encode("gb18030")).decode()
    gbk = send({"target": "contact", "file_name": "b.csv", "content": encoded, "base64": True})
    assert gbk.status_code == 201 and gbk.json()["encoding"] == "gb18030"
    assert gbk.json()["headers"] == ["姓名", "邮箱"]
    bad = send({"target": "contact", "file_name": "c.csv", "content": "%%%", "base64": True})
    assert bad.status_code == 422 and list(bad.json()["fields"]) == ["content"]
    extra = send({"target": "contact", "file_name": "c.csv", "content": text, "tenant": 2})
    assert extra.status_code == 422 and list(extra.json()["fields"]) == ["tenant"]
    empty = send({"target": "contact", "file_name": "c.csv", "content": ""})
    assert empty.status_code == 422 and empty.json()["fields"]["file"] == ["The file is empty."]
    not_json = client.post("/api/v1/imports", "{", content_type="application/json", headers=auth)
    assert not_json.status_code == 422
    no_file = client.post("/api/v1/imports", {"target": "contact"}, headers=auth)
    assert no_file.status_code == 422 and list(no_file.json()["fields"]) == ["file"]
    assert ImportJob.objects.count() == 2
