"""Request and response schemas of the integrations API, and the upload body read by hand
(a multipart file, or JSON with the file's text or base64)."""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Any, Literal, TypeVar

from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError as PydanticValidationError

from crm.core.api import Id, InSchema, ListParams, LongText, Name200, Str40, Str100, Str500, page_of
from crm.core.writes import field_error

SchemaT = TypeVar("SchemaT", bound=Schema)
Target = Literal["contact", "account", "lead", "opportunity", "order", "activity"]


class ImportJobOut(Schema):
    id: int
    target: str
    status: str
    dry_run: bool
    file_name: str
    file_format: str
    encoding: str
    headers: list[str]
    mapping: list[str]
    options: dict[str, Any]
    total_rows: int | None
    position: int
    percent: int
    created_count: int
    updated_count: int
    skipped_count: int
    failed_count: int
    rate: float | None = Field(None, description="Rows per second in the current run.")
    eta_seconds: int | None
    message: str
    created_at: datetime
    finished_at: datetime | None
    file_deleted_at: datetime | None = Field(
        None, description="When the file was deleted: personal data files expire."
    )


ImportJobPage = page_of(ImportJobOut)


class ImportUploadForm(InSchema):
    """The fields sent with the file in a multipart upload."""

    target: Target
    encoding: Str40 = Field("", description="Leave empty to detect UTF-8, UTF-8 BOM or GB18030.")
    sheet: Str100 = Field("", description="XLSX: the sheet to read (default: the first).")
    template_id: Id | None = Field(None, description="A saved mapping template to apply.")


class ImportUploadIn(ImportUploadForm):
    """A JSON upload, for files small enough to send in one request body."""

    file_name: Name200 = Field(..., description="With its extension: .csv, .tsv, .txt or .xlsx.")
    content: str = Field(..., description="The file's text, or its bytes in base64.")
    base64: bool = Field(False, description="True when `content` is base64 (XLSX files).")

    def file_bytes(self) -> bytes:
        if not self.base64:
            return self.content.encode("utf-8", errors="surrogatepass")
        try:
            return binascii.a2b_base64(self.content.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise field_error("content", _("This is not valid base64.")) from exc


def validated(schema: type[SchemaT], data: Any) -> SchemaT:
    """The body checked against `schema`, failing as Ninja fails for a declared body."""
    try:
        return schema.model_validate(data)
    except PydanticValidationError as exc:
        errors = [
            {"loc": ("body", "payload", *error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        raise NinjaValidationError(errors) from exc


def _upload_body() -> dict[str, Any]:
    form = ImportUploadForm.model_json_schema()
    form["properties"]["file"] = {"type": "string", "format": "binary"}
    form["required"] = ["file", *form.get("required", [])]
    return {
        "required": True,
        "content": {
            "application/json": {"schema": ImportUploadIn.model_json_schema()},
            "multipart/form-data": {"schema": form},
        },
    }


UPLOAD_BODY = _upload_body()


class ImportConfigureIn(InSchema):
    mapping: list[Str100] | None = None
    duplicate_policy: Literal["skip", "update", "create"] | None = None
    match_on: (
        list[
            Literal[
                "external_id", "email", "phone", "name_company", "name", "number", "same_moment"
            ]
        ]
        | None
    ) = None
    date_order: Literal["", "dmy", "mdy"] | None = None
    create_missing: bool | None = None
    owner_id: Id | None = None
    save_template_as: Str100 = ""


class ImportStartIn(InSchema):
    dry_run: bool = False


class PreviewRowOut(Schema):
    row_number: int
    action: str
    values: dict[str, str]
    errors: dict[str, list[str]]
    reason: str
    match_id: int | None


class RowErrorOut(Schema):
    row_number: int
    outcome: str
    errors: dict[str, list[str]]
    record_id: int | None


RowErrorPage = page_of(RowErrorOut)


class RowErrorFilter(ListParams):
    outcome: Literal["", "failed", "skipped"] = ""


class TemplateOut(Schema):
    id: int
    name: str
    target: str
    mapping: dict[str, str]
    options: dict[str, Any]


class ScanIn(InSchema):
    record_type: Literal["contact", "lead", "account"] = "contact"


class ScanOut(Schema):
    id: int
    record_type: str
    status: str
    scanned: int
    pairs_found: int
    seconds: float | None


class CandidateOut(Schema):
    id: int
    record_type: str
    left_id: int
    right_id: int
    score: int
    reasons: list[str]
    status: str


CandidatePage = page_of(CandidateOut)


class CandidateFilter(ListParams):
    record_type: Literal["contact", "lead", "account"] = "contact"
    status: Literal["", "open", "merged", "dismissed"] = "open"


class DuplicateCheckIn(InSchema):
    """A record about to be created: which existing records would it duplicate?"""

    record_type: Literal["contact", "lead", "account"] = "contact"
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=40)
    city: str = Field("", max_length=100)
    company: str = Field("", max_length=200, description="Leads: the company as typed.")
    account_id: Id | None = Field(None, description="Contacts: the account they work for.")
    website: str = Field("", max_length=200, description="Accounts.")


class DuplicateMatchOut(Schema):
    id: int
    name: str
    score: int
    reasons: list[str]


class MergeIn(InSchema):
    other_id: Id = Field(
        ..., description="The record (contact, account or lead) merged into this one; soft-deleted."
    )
    fields: dict[str, Literal["survivor", "merged"]] = Field(
        default_factory=dict,
        description="Per field, whose value survives; default: the most recent non-empty value.",
    )


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    choices: dict[str, str]
    relinked: dict[str, list[int]]
    undo_until: datetime
    undone_at: datetime | None


class ExportIn(InSchema):
    target: Target
    file_format: Literal["csv", "xlsx"] = "csv"
    filters: dict[str, str | int | bool] = Field(default_factory=dict)


class ExportJobOut(Schema):
    id: int
    target: str
    file_format: str
    status: str
    rows_done: int
    file_name: str
    message: str
    file_deleted_at: datetime | None = Field(
        None, description="When the file was deleted: personal data files expire."
    )


class ConsentIn(InSchema):
    channel: Literal["email", "sms", "phone", "wechat"]
    granted: bool
    source: Str100
    wording: LongText = ""


class PrivacyIn(InSchema):
    note: Str500 = ""


class PrivacyOut(Schema):
    id: int
    kind: str
    status: str
    subject_ref: str
    summary: dict[str, Any]
    completed_at: datetime | None
    file_deleted_at: datetime | None = Field(
        None, description="When the file was deleted: personal data files expire."
    )


class RetentionIn(InSchema):
    inactive_years: int | None = Field(
        ..., ge=1, le=100, description="Anonymise contacts inactive this long; null: never."
    )


class RetentionRunIn(InSchema):
    dry_run: bool = True
