"""The translation catalogs: extract the texts from the code, keep each language's ``.po`` in step, compile.

    python -m tools.catalog            # extract, update every .po, compile every .mo
    python -m tools.catalog --check    # say what is out of step (what tests/test_i18n.py asserts), change nothing

Babel does the work: its Python extractor finds ``_("…")``, ``N_("…")``, ``plural(n, "…", "…")`` and
``pgettext("context", "…")`` in
``amosheets`` (the sandbox, a developer's tool that speaks the emulated services' English, is left out);
``amosheets/locale/amosheets.pot`` lists them; each ``<language>/LC_MESSAGES/amosheets.po`` holds the
translations and is compiled to the ``.mo`` gettext reads, only once it is complete: half a translation would mix
two languages in one run (until then, that language's users read English). English is the code's own: its ``.po``
says every text as the code does, so that it is complete by construction.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir, extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from amosheets.i18n import DOMAIN, LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "amosheets" / "locale"  # this checkout's, whichever amosheets is installed
KEYWORDS = {"_": None, "N_": None, "plural": (2, 3), "pgettext": ((1, "c"), 2)}


def help_texts(command: Any) -> Iterator[str]:
    """Every help text of the command line as click shows it: docstrings (typer's), options' help."""
    if command.help:
        yield command.help
    for param in command.params:
        if getattr(param, "help", None):
            yield param.help
    for sub in getattr(command, "commands", {}).values():
        yield from help_texts(sub)


def extract_cli(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[Any]:
    """Babel's extraction of cli.py: its marked texts, and the help of every command (which the CLI translates
    as it shows it, ``amosheets.cli.translate_help``), taken from the same tree."""
    yield from extract_python(fileobj, keywords, comment_tags, options)
    import typer

    from amosheets.cli import app

    for text in help_texts(typer.main.get_command(app)):
        yield 1, None, text, ["i18n: --help"]


METHODS: list[tuple[str, Any]] = [("sandbox/**.py", "ignore"), ("cli.py", extract_cli), ("**.py", "python")]
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
# The files' header dates stay put, so that regenerating changes a file only when its texts change.
STAMP = datetime(2026, 12, 7, tzinfo=timezone.utc)


def extracted() -> Catalog:
    """Every text the code marks, with where it is."""
    catalog = Catalog(project="amosheets", domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=STAMP)
    found = extract_from_dir(
        ROOT / "amosheets", METHODS, keywords=KEYWORDS, comment_tags=("i18n:",), strip_comment_tags=True
    )
    for filename, lineno, text, comments, context in found:
        catalog.add(text, locations=[(f"amosheets/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def updated(template: Catalog, lang: str) -> Catalog:
    """``lang``'s catalog brought in step with ``template``: new texts added, gone ones dropped.

    ``template`` is not to be used again: Babel's update shares its messages with the result."""
    path = po_path(lang)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=DOMAIN)
    else:
        catalog = Catalog(locale=lang, domain=DOMAIN, project="amosheets", charset="utf-8", fuzzy=False)
    catalog.revision_date = STAMP
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    for fragment in sorted((LOCALE_DIR / lang / "fragments").glob("*.po")):
        # Translations written beside the catalog (by people working on separate parts at once) fill in what
        # the catalog lacks; once folded in, the fragment can go.
        for message in _read(fragment):
            kept = catalog.get(message.id, message.context) if message.id else None
            if kept is not None and message.string and not any(kept.string if kept.pluralizable else [kept.string]):
                kept.string = message.string
    if lang == LANGUAGES[0]:
        for message in catalog:
            if message.id:
                message.string = message.id
    return catalog


def missing(catalog: Catalog) -> list[str]:
    """The texts ``catalog`` has no translation of (a plural, any of whose forms is empty)."""
    out = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        if not all(strings):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def _po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=120, omit_header=False, sort_by_file=True, include_previous=False)
    return buf.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def _ids(messages: Iterable[Message]) -> set[object]:
    """The texts, each with its context (``pgettext``): one text in two contexts is two texts."""
    return {(m.id, m.context) for m in messages if m.id}


def out_of_step(complete: tuple[str, ...] = LANGUAGES) -> list[str]:
    """What ``python -m tools.catalog`` would change, and every text the ``complete`` languages lack; [] when
    all is in step."""
    template = extracted()
    problems = []
    if not TEMPLATE.exists():
        problems.append(f"{TEMPLATE.relative_to(ROOT)} is missing")
    else:
        with TEMPLATE.open("rb") as f:
            kept = read_po(f)
        if _ids(kept) != _ids(template):
            new, gone = _ids(template) - _ids(kept), _ids(kept) - _ids(template)
            problems.append(f"{TEMPLATE.relative_to(ROOT)} is not the code's: {len(new)} texts new, {len(gone)} gone")
    for lang in LANGUAGES:
        catalog = updated(extracted(), lang)
        if lang in complete:
            problems += [f"{lang}: no translation of {text!r}" for text in missing(catalog)]
        mo = po_path(lang).with_suffix(".mo")
        if not po_path(lang).exists() or _ids(_read(po_path(lang))) != _ids(catalog):
            problems.append(f"{po_path(lang).relative_to(ROOT)} is not in step with the code")
        elif missing(catalog):
            if mo.exists():
                problems.append(f"{mo.relative_to(ROOT)} is compiled from an incomplete catalog")
        elif not mo.exists() or mo.read_bytes() != _mo_bytes(_read(po_path(lang))):
            problems.append(f"{mo.relative_to(ROOT)} is not compiled from its .po")
    return problems


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def write_all() -> None:
    template = extracted()
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(_po_bytes(template))
    for lang in LANGUAGES:
        catalog = updated(extracted(), lang)
        po_path(lang).parent.mkdir(parents=True, exist_ok=True)
        po_path(lang).write_bytes(_po_bytes(catalog))
        mo = po_path(lang).with_suffix(".mo")
        if missing(catalog):  # offered only once complete: half a translation would mix two languages in one run
            mo.unlink(missing_ok=True)
        else:
            mo.write_bytes(_mo_bytes(_read(po_path(lang))))
        print(f"{lang}: {len(catalog)} texts, {len(missing(catalog))} untranslated")


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        found = out_of_step()
        print("\n".join(found) or "in step")
        sys.exit(1 if found else 0)
    write_all()
