"""Column mapping and preview of an import, before it runs.

Mapping: `suggest_mapping` proposes a field per column of the file's header row (a saved
template first, then the fields' exact header aliases, then a fuzzy match; error and
row-number columns, as in a failed-rows download, are left unmapped), `check_mapping` validates
the mapping a member chose, and `template_from` turns it into a reusable template (header key ->
field key). Preview: `preview` runs the first rows through the same preparation, resolution and
duplicate decisions as the batch runner (crm.integrations.importing) as a dry run, adds the
model's full_clean() on each record it would create, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.core.context import current_tenant_id
from crm.integrations import files
from crm.integrations.importing import build_context, decide, prepare_batch, source_of
from crm.integrations.models import ImportJob
from crm.integrations.readers import iter_rows
from crm.integrations.targets import RowState, RunContext, Target, target_for
from crm.integrations.values import as_text, header_key
from crm.tenancy.models import Membership

PREVIEW_ROWS = 20
IGNORED_HEADERS = {header_key(h) for h in ("error", "errors", "错误", "错误原因", "row", "行号")}


# --- mapping ------------------------------------------------------------------------------------


def suggest_mapping(
    target: Target, headers: Sequence[str], template: dict[str, str] | None = None
) -> list[str]:
    """A field key (or "") per column: the template first, then exact aliases, then fuzzy."""
    template = template or {}
    taken: set[str] = set()
    mapping: list[str] = []
    lookup: dict[str, str] = {}
    for spec in target.fields:
        for key in spec.header_keys():
            lookup.setdefault(key, spec.key)
    for header in headers:
        key = header_key(header)
        chosen = template.get(key, "")
        if chosen and chosen not in target.by_key:
            chosen = ""
        if not chosen and key not in IGNORED_HEADERS:
            chosen = lookup.get(key, "")
            if not chosen and len(key) >= 3:
                best, score = "", 0.0
                for alias, field_key in lookup.items():
                    if len(alias) < 3:
                        continue
                    s = fuzz.ratio(key, alias)
                    if s > score:
                        best, score = field_key, s
                chosen = best if score >= 88 else ""
        if chosen in taken:
            chosen = ""
        if chosen:
            taken.add(chosen)
        mapping.append(chosen)
    return mapping


def check_mapping(target: Target, headers: Sequence[str], mapping: Sequence[str]) -> list[str]:
    from crm.core.writes import field_error

    if len(mapping) != len(headers):
        raise field_error("mapping", _("Give one field (or nothing) per column."))
    cleaned = [str(m or "") for m in mapping]
    for key in cleaned:
        if key and key not in target.by_key:
            raise field_error("mapping", _("Unknown field “%s”.") % key)
    used = [k for k in cleaned if k]
    if len(used) != len(set(used)):
        raise field_error("mapping", _("Each field can be mapped from one column only."))
    for spec in target.fields:
        if spec.required and spec.key not in used:
            alternatives = {"name": ("name_family", "name_given")}.get(spec.key, ())
            if not any(a in used for a in alternatives):
                raise field_error(
                    "mapping", _("Map a column to the required field “%s”.") % spec.label
                )
    return cleaned


def template_from(headers: Sequence[str], mapping: Sequence[str]) -> dict[str, str]:
    return {header_key(h): m for h, m in zip(headers, mapping, strict=False) if m}


# --- preview ------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    row_number: int
    action: str
    values: dict[str, str]
    errors: dict[str, list[str]]
    reason: str
    match_id: int | None


def preview(job: ImportJob, actor: Membership, *, limit: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows as they would be imported, with per-row, per-field errors. Writes nothing."""
    target = target_for(job.target)
    ctx = build_context(job, actor)
    ctx.dry_run = True
    raw = list(islice(iter_rows(files.resolve(job.file_path), source_of(job)), limit))
    rows = prepare_batch(target, raw, job.mapping, ctx)
    decide(target, rows, ctx)
    out = []
    for row in rows:
        if row.action == "create":
            _full_clean(target, row, ctx)
        shown = {
            k: as_text(v)
            for k, v in row.values.items()
            if not k.endswith("_index") and k not in ("name_key", "pinyin_key", "initials_key")
        }
        shown.update(row.refs)
        out.append(
            PreviewRow(
                row.number,
                row.action,
                shown,
                row.errors,
                row.reason,
                row.match_id,
            )
        )
    return out


def _full_clean(target: Target, row: RowState, ctx: RunContext) -> None:
    """The model's full_clean(), as the services run it, on the record a row would create."""
    instance = target.new_instance(row, ctx)
    instance.tenant_id = current_tenant_id()  # type: ignore[attr-defined]
    relations = [f.name for f in target.model._meta.concrete_fields if f.is_relation]
    try:
        instance.full_clean(exclude=relations, validate_constraints=True)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            row.errors.setdefault(name, []).extend(
                m for m in messages if m not in row.errors.get(name, [])
            )
        row.action = "fail"
