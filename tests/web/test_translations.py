"""Every message has its Chinese translation, and the compiled catalogue matches the source."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import translation

import crm

PO = Path(crm.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# Apps may keep their own catalogue in src/crm/<app>/locale (Django finds it by itself).
CATALOGUES = [PO, *sorted(Path(crm.__file__).parent.glob("*/locale/zh_Hans/LC_MESSAGES/django.po"))]


def _unquote(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _entries() -> list[tuple[str, str | None, str]]:
    entries = []
    blocks = [
        block
        for catalogue in CATALOGUES
        for block in catalogue.read_text(encoding="utf-8").split("\n\n")[1:]
    ]
    for block in blocks:
        msgid = re.search(r'^msgid "(.*)"$', block, re.M)
        if msgid is None:
            continue
        plural = re.search(r'^msgid_plural "(.*)"$', block, re.M)
        msgstr = re.search(r'^msgstr(?:\[0\])? "(.*)"$', block, re.M)
        assert msgstr is not None, block
        entries.append(
            (
                _unquote(msgid.group(1)),
                plural and _unquote(plural.group(1)),
                _unquote(msgstr.group(1)),
            )
        )
    return entries


def test_every_message_is_translated_and_compiled() -> None:
    entries = _entries()
    assert len(entries) > 400
    untranslated = [msgid for msgid, _plural, msgstr in entries if not msgstr]
    assert untranslated == []
    for catalogue in CATALOGUES:
        assert "fuzzy" not in catalogue.read_text(encoding="utf-8"), catalogue
    stale = []
    with translation.override("zh-hans"):
        for msgid, plural, msgstr in entries:
            shown = translation.ngettext(msgid, plural, 1) if plural else translation.gettext(msgid)
            if shown != msgstr:
                stale.append(msgid)
    assert stale == [], "run `crm compilemessages` after editing django.po"
