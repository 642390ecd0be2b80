"""What ``amosheets init --format`` sets on the tab, as the requests of one ``spreadsheets:batchUpdate``.

Pure: the header row as bound (``HeaderMap``), the account's catalog and the tab's layout (what one
metadata read says: its sheet id, grid size and protected ranges) go in; the requests and a line
in words for each thing set come out. ``Sheet.layout`` reads the layout, ``Sheet.apply`` sends the
requests.

Idempotent by construction: every request sets a column to what the catalog says now (a rule
replaces whatever rule a cell had, a known column without a rule gets its old one cleared, so a
column that moved does not keep its drop-down), and the one protected range amosheets makes is
recognised by its description and updated, never added twice. Columns the tool does not know are
never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from amosheets.i18n import N_, _
from amosheets.sync.fields import LEAD_ID, FieldSpec, HeaderMap, Key, column_letter
from amosheets.sync.kinds import Checkbox, Day, Moment, Option, Options
from amosheets.sync.model import INCOMING_STATUS_TYPE, Catalog

# The protected range amosheets makes is told from a person's by this start of its description.
PROTECTION_MARK = "amosheets:"
# The rest of the description, in the language in use (protection_description()); PROTECTION_DESCRIPTION in English.
_PROTECTION_TEXT = N_(
    "lead_id ties each row to its deal; amosheets fills it in. Clear a cell only to make that row a new deal."
)
PROTECTION_DESCRIPTION = f"{PROTECTION_MARK} {_PROTECTION_TEXT}"
# Date cells are read as serial numbers (UNFORMATTED_VALUE), so any pattern reads back as the same
# day; these show what the contract's examples show, unambiguous in every locale.
DATE_PATTERN = "yyyy-mm-dd"
MOMENT_PATTERN = "yyyy-mm-dd hh:mm"

Request = dict[str, Any]


@dataclass(frozen=True)
class Protection:
    """A protected range of the tab, as the metadata lists it."""

    id: int
    description: str = ""

    @property
    def ours(self) -> bool:
        return self.description.startswith(PROTECTION_MARK)


@dataclass(frozen=True)
class Layout:
    """The tab as one metadata read sees it."""

    sheet_id: int
    rows: int
    cols: int
    protections: tuple[Protection, ...] = ()


@dataclass
class FormatPlan:
    requests: list[Request] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # what is set, one line each, in plain words


def protection_description() -> str:
    """The description of the protected range amosheets makes, in the language in use (it starts with the mark)."""
    return f"{PROTECTION_MARK} {_(_PROTECTION_TEXT)}"


def format_plan(
    headers: HeaderMap, catalog: Catalog, layout: Layout, pipeline_ids: Sequence[int] | None = None
) -> FormatPlan:
    """The requests that make the tab look as the bound columns ask, and what they set in words.

    ``pipeline_ids`` are the pipelines whose statuses the Статус drop-down offers (default: the
    catalog's default pipeline, the one new deals go to).
    """
    plan = FormatPlan()
    sid = layout.sheet_id
    columns = {LEAD_ID: headers.lead_id, **headers.columns}
    where = {key: f"{headers.header_of(key)} ({column_letter(c)})" for key, c in columns.items()}

    plan.requests.append(
        {
            "updateSheetProperties": {
                "properties": {"sheetId": sid, "gridProperties": {"frozenRowCount": 1}},
                "fields": "gridProperties.frozenRowCount",
            }
        }
    )
    headed = [*columns.values(), *([headers.sync] if headers.sync is not None else [])]
    for c0, c1 in _runs(headed):
        plan.requests.append(
            {
                "repeatCell": {
                    "range": _grid(sid, 0, 1, c0, c1),
                    "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                    "fields": "userEnteredFormat.textFormat.bold",
                }
            }
        )
    plan.said.append(_("Row 1: frozen (it stays in view when scrolling), the headers of the synced columns in bold."))

    cleared: list[str] = []
    if layout.rows > 1:  # a grid of the header row alone has no cells below it to format
        ids = tuple(pipeline_ids) if pipeline_ids else tuple(sorted(catalog.followed))
        for key, c in sorted(columns.items(), key=lambda kc: kc[1]):
            body = _grid(sid, 1, layout.rows, c, c + 1)
            rule, number, words = _setting(key, headers.specs.get(key), catalog, ids, headers)
            plan.requests.append({"setDataValidation": {"range": body, **({"rule": rule} if rule else {})}})
            if rule is None:
                cleared.append(where[key])
            if number is not None:
                # Only set, never cleared: a person's own number format (a currency on Сумма, say) must
                # survive, and one metadata read cannot tell it from a format amosheets set before.
                plan.requests.append(
                    {
                        "repeatCell": {
                            "range": body,
                            "cell": {"userEnteredFormat": {"numberFormat": number}},
                            "fields": "userEnteredFormat.numberFormat",
                        }
                    }
                )
            if words:
                # i18n: {column} is a header and its column's letter: "Статус (C)"; {setting} what is set on it.
                plan.said.append(_("{column}: {setting}.").format(column=where[key], setting=words))
    if cleared:
        plan.said.append(
            _("No drop-down or checkbox (any old one removed): {columns}.").format(columns=", ".join(cleared))
        )

    plan.requests.extend(_protection(sid, columns[LEAD_ID], layout.protections))
    plan.said.append(
        _(
            "{column}: protected with a warning — Sheets asks before anyone edits it (amosheets itself is not stopped)."
        ).format(column=where[LEAD_ID])
    )
    return plan


def _setting(
    key: str, spec: FieldSpec | None, catalog: Catalog, pipeline_ids: tuple[int, ...], headers: HeaderMap
) -> tuple[dict[str, Any] | None, dict[str, str] | None, str]:
    """(validation rule, number format, words) for a column; None: none (an old rule is cleared)."""
    if key == Key.STATUS:
        # A deal moves to another pipeline when its row's Воронка changes, and then takes a status of
        # that pipeline: with a Воронка column the list offers every pipeline's statuses, and is not
        # strict, since one list cannot say which status belongs to which pipeline.
        movable = Key.PIPELINE in headers.columns and len(catalog.pipelines) > 1
        if movable:
            pipeline_ids = tuple(catalog.pipelines)
        names = status_names(catalog, pipeline_ids)
        shown = ", ".join(f"«{catalog.pipeline_name(p)}»" for p in pipeline_ids)
        # i18n: {shown} names the pipelines: «Основная», «Партнёры»; {n} is how many statuses.
        words = _("a drop-down of the {n} statuses of {shown}").format(n=len(names), shown=shown)
        return _list(names, strict=not movable), None, words
    if key == Key.PIPELINE:
        names = _unique(p.name for p in catalog.pipelines.values())
        return _list(names, strict=True), None, _("a drop-down of the {n} pipelines").format(n=len(names))
    if key == Key.PHONE:
        return None, {"type": "TEXT"}, _("plain text, so that a number such as +7 999 … stays as typed")
    kind = spec.kind if spec is not None else None
    if isinstance(kind, Option) and kind.options:
        names = _unique(t for _id, t in kind.options)
        if isinstance(kind, Options):
            # A multiselect cell holds several options joined by ", ", which is never one item of the
            # list: a strict rule would refuse every cell with two options in it.
            return (
                _list(names, strict=False),
                None,
                _("a drop-down of its {n} options (type several separated by commas)").format(n=len(names)),
            )
        return _list(names, strict=True), None, _("a drop-down of its {n} options").format(n=len(names))
    if isinstance(kind, Checkbox):
        return {"condition": {"type": "BOOLEAN"}}, None, _("checkboxes")
    if isinstance(kind, Moment):  # before Day: a Moment is a Day
        return None, {"type": "DATE_TIME", "pattern": MOMENT_PATTERN}, _("dates and times, shown as 2026-12-02 14:30")
    if isinstance(kind, Day):
        return None, {"type": "DATE", "pattern": DATE_PATTERN}, _("dates, shown as 2026-12-02")
    return None, None, ""


def status_names(catalog: Catalog, pipeline_ids: Iterable[int]) -> list[str]:
    """The status names of these pipelines, each pipeline's in its order, a name shared only once."""
    names: list[str] = []
    for pid in pipeline_ids:
        pipeline = catalog.pipeline(pid)
        if pipeline is not None:
            # Not the incoming-leads status: amoCRM's API cannot put a deal there, so choosing it fails.
            names.extend(
                s.name for s in sorted(pipeline.statuses, key=lambda s: s.sort) if s.type != INCOMING_STATUS_TYPE
            )
    return _unique(names)


def _unique(names: Iterable[str]) -> list[str]:
    """Names trimmed, each once (case-insensitively, as the tool reads them), empty ones left out."""
    seen: dict[str, str] = {}
    for n in names:
        n = n.strip()
        if n and n.casefold() not in seen:
            seen[n.casefold()] = n
    return list(seen.values())


def _list(names: Sequence[str], strict: bool) -> dict[str, Any] | None:
    if not names:  # a list needs at least one item; nothing to offer is no rule
        return None
    return {
        "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": n} for n in names]},
        "strict": strict,
        "showCustomUi": True,
    }


def _protection(sid: int, column: int, existing: Iterable[Protection]) -> list[Request]:
    """Add amosheets' protected range, or move the one it made before onto lead_id (and drop extra ones)."""
    protected = {
        # No row bounds: the range grows with the grid, so rows added later are covered too.
        "range": {"sheetId": sid, "startColumnIndex": column, "endColumnIndex": column + 1},
        "description": protection_description(),
        "warningOnly": True,
    }
    ours = [p for p in existing if p.ours]
    if not ours:
        return [{"addProtectedRange": {"protectedRange": protected}}]
    first, *extra = ours
    # "editors" in the mask clears any editors a person added: a warning-only range may have none.
    update = {
        "updateProtectedRange": {
            "protectedRange": {"protectedRangeId": first.id, **protected},
            "fields": "range,description,warningOnly,editors",
        }
    }
    return [update, *({"deleteProtectedRange": {"protectedRangeId": p.id}} for p in extra)]


def _grid(sid: int, r0: int, r1: int, c0: int, c1: int) -> dict[str, int]:
    return {"sheetId": sid, "startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1}


def _runs(cols: Iterable[int]) -> list[tuple[int, int]]:
    """Column indices as runs of neighbours, end-exclusive: (0, 1, 2, 5) → [(0, 3), (5, 6)]."""
    out: list[tuple[int, int]] = []
    for c in sorted(set(cols)):
        if out and out[-1][1] == c:
            out[-1] = (out[-1][0], c + 1)
        else:
            out.append((c, c + 1))
    return out
