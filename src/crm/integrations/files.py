"""Where uploaded and generated files live: DATA_DIR/integrations/<tenant>/<kind>/<random name>.

Uploads are copied in chunks with a size limit, so a file is never held in memory whole, and a
file over the limit is refused with a clear message before any of it is read into the database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.core.writes import field_error

CHUNK = 1024 * 1024
DEFAULT_IMPORT_MAX_BYTES = 100 * 1024 * 1024


def import_max_bytes() -> int:
    configured = getattr(settings, "IMPORT_MAX_BYTES", None)
    if configured is None:
        configured = int(os.environ.get("CRM_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES))
    return int(configured)


def _root() -> Path:
    return Path(settings.DATA_DIR) / "integrations"


def tenant_folder() -> Path:
    """The current tenant's folder of stored files (kinds below it)."""
    return _root() / str(current_tenant_id())


def new_path(kind: str, suffix: str) -> tuple[str, Path]:
    """A fresh relative path (stored on the job) and its absolute path, parents created."""
    relative = f"{current_tenant_id()}/{kind}/{secrets.token_hex(12)}{suffix}"
    absolute = _root() / relative
    absolute.parent.mkdir(parents=True, exist_ok=True)
    return relative, absolute


def resolve(relative: str) -> Path:
    """The absolute path of a stored file of the current tenant (never outside its folder)."""
    root = (_root() / str(current_tenant_id())).resolve()
    path = (_root() / relative).resolve()
    if root not in path.parents:
        raise field_error("file", _("No such file."))
    return path


def _size_of(upload: Any) -> int | None:
    size = getattr(upload, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(upload.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def too_large(size: int, limit: int) -> Exception:
    return field_error(
        "file",
        _("The file is %(size)s MB; files up to %(max)s MB can be imported. Split it into parts.")
        % {"size": f"{size / 1048576:,.0f}", "max": f"{limit / 1048576:,.0f}"},
    )


def save_upload(upload: IO[bytes] | Any, *, suffix: str) -> tuple[str, int, str]:
    """Copy an upload to storage in chunks; returns (relative path, size, sha256)."""
    limit = import_max_bytes()
    declared = _size_of(upload)
    if declared is not None and declared > limit:
        raise too_large(declared, limit)
    relative, path = new_path("imports", suffix)
    digest = hashlib.sha256()
    size = 0
    chunks = (
        upload.chunks(CHUNK) if hasattr(upload, "chunks") else iter(lambda: upload.read(CHUNK), b"")
    )
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large(size, limit)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise field_error("file", _("The file is empty."))
    return relative, size, digest.hexdigest()


def remove(relative: str) -> bool:
    """Delete a stored file of the current tenant; whether there was one to delete."""
    if not relative:
        return False
    try:
        resolve(relative).unlink()
    except FileNotFoundError:
        return False
    return True
