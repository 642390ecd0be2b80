"""How a cell holds each type of amoCRM field, and how amoCRM's JSON does: one class per type.

A *kind* turns a cell into the field's canonical value (what the planner compares), a
canonical value back into a cell, and the field's entry in amoCRM's ``custom_fields_values``
into a canonical value and back. A new field type is a new class here and a line in
``kind_for``; nothing else in the tool names types.

Canonical values are plain JSON values (the state stores them): text as trimmed ``str``,
numbers as ``int`` (or ``float`` with a fraction), options by their amoCRM ``enum_id``, sets as
sorted tuples, calendar days as ``YYYY-MM-DD`` and moments as ``YYYY-MM-DDTHH:MM``, both in the
account's time zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from amosheets.i18n import N_, _

Cell = str | int | float | bool | None
AmoValues = list[dict[str, Any]]  # a custom field's ``values`` in amoCRM's JSON

# Days from Sheets' day zero: a date cell holds this serial number under a date format.
_SHEETS_EPOCH = datetime(1899, 12, 30)


class ValueProblem(ValueError):
    """A cell's value cannot be used; the message says how to write it."""


class DateText(str):
    """A cell to be written as a real date (Sheets parses it as typed); other text is written as text."""


def text(cell: Cell) -> str:
    """A cell as trimmed text (numbers the sheet stored as numbers come back as digits)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return str(int(cell))
    return str(cell).strip()


class Kind:
    """Text: compared trimmed. The base of the others."""

    type_name = "text"
    empty: Any = ""
    writable = True

    def read(self, cell: Cell) -> Any:
        """The cell's canonical value; raises ValueProblem."""
        return text(cell)

    def cell(self, value: Any) -> Cell:
        """What the sheet is given for a canonical value."""
        return value

    def show(self, value: Any) -> str:
        """A canonical value in words, for messages."""
        shown = self.cell(value)
        return text(shown) if shown not in (None, "") else "∅"

    def from_amo(self, values: AmoValues) -> Any:
        first = values[0].get("value") if values else None
        return self.empty if first is None else str(first).strip()

    def to_amo(self, value: Any) -> AmoValues | None:
        """The field's ``values`` for amoCRM; None clears the field."""
        return [{"value": value}] if value not in (None, "") else None

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == self.empty


class Multitext(Kind):
    """A multitext field other than the contact's phone and e-mail: its first value, as text."""

    type_name = "multitext"

    def __init__(self, enum_id: int | None) -> None:
        self.enum_id = enum_id

    def to_amo(self, value: Any) -> AmoValues | None:
        if value in (None, ""):
            return None
        return [{"value": value, "enum_id": self.enum_id}] if self.enum_id is not None else [{"value": value}]


class ReadOnlyText(Kind):
    """A type the tool shows but never sends (legal entity, items, files, …): its values as text."""

    type_name = "read-only"
    writable = False

    def from_amo(self, values: AmoValues) -> Any:
        parts = []
        for v in values:
            x = v.get("value")
            if isinstance(x, Mapping):
                x = ", ".join(str(y) for y in x.values() if y not in (None, ""))
            if x not in (None, ""):
                parts.append(str(x).strip())
        return ", ".join(parts)


_PRICE_JUNK = re.compile(r"[\s\u00a0\u202f'’₽$€]|руб\.?|р\.|rub", re.IGNORECASE)
_NOT_A_NUMBER = N_("is not a number; write digits only, like 15000")


def _number(cell: Cell) -> float | None:
    """A number from a cell: 1500, "1 500", "1,500", "1500.00", "1500,5", "15 000 ₽"; None when empty."""
    if isinstance(cell, bool):
        raise ValueProblem(_(_NOT_A_NUMBER))
    if isinstance(cell, int | float):
        value = float(cell)
    else:
        raw = _PRICE_JUNK.sub("", text(cell))
        if not raw:
            return None
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", raw):
            raw = raw.replace(",", "")  # 1,500 or 1,500.00: commas group thousands
        elif re.fullmatch(r"-?\d+,\d+", raw):
            raw = raw.replace(",", ".")  # 1500,5: a decimal comma
        try:
            value = float(raw)
        except ValueError:
            raise ValueProblem(_(_NOT_A_NUMBER)) from None
    if math.isnan(value) or math.isinf(value):
        raise ValueProblem(_(_NOT_A_NUMBER))
    if abs(value) > 2**53:
        raise ValueProblem(_("is too large"))
    return value


def _plain(value: float) -> int | float:
    return int(value) if value.is_integer() else value


class Price(Kind):
    """The lead's own ``price``: a whole, non-negative amount; empty is 0."""

    type_name = "price"
    empty = 0

    def read(self, cell: Cell) -> Any:
        if type(cell) is int and cell >= 0:
            return cell
        value = _number(cell)
        if value is None:
            return 0
        if value < 0:
            raise ValueProblem(_("is negative; a deal's amount is 0 or more"))
        if not value.is_integer():
            raise ValueProblem(_("has kopecks/cents; amoCRM keeps whole amounts — round it, like 1500"))
        return int(value)


class Number(Kind):
    """numeric, monetary, price custom fields: a number, empty when unset."""

    type_name = "number"
    empty = None

    def read(self, cell: Cell) -> Any:
        value = _number(cell)
        return None if value is None else _plain(value)

    def from_amo(self, values: AmoValues) -> Any:
        first = values[0].get("value") if values else None
        if first in (None, ""):
            return None
        try:
            return _plain(float(str(first).replace(",", ".").replace(" ", "")))
        except ValueError:
            return None

    def to_amo(self, value: Any) -> AmoValues | None:
        return None if value is None else [{"value": str(value)}]


_TRUE = frozenset({"true", "да", "yes", "1", "истина", "y", "д", "✓", "x"})
_FALSE = frozenset({"false", "нет", "no", "0", "ложь", "n", "н", ""})


class Checkbox(Kind):
    """A boolean; ``да/нет``, ``yes/no``, ``1/0`` are read too. An empty cell is unticked."""

    type_name = "checkbox"
    empty = False

    def read(self, cell: Cell) -> Any:
        if isinstance(cell, bool):
            return cell
        t = text(cell).casefold()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        raise ValueProblem(_("is not a yes/no value; write TRUE or FALSE (да/нет, yes/no and 1/0 are read too)"))

    def from_amo(self, values: AmoValues) -> Any:
        return bool(values and values[0].get("value"))

    def to_amo(self, value: Any) -> AmoValues | None:
        return [{"value": bool(value)}]

    def show(self, value: Any) -> str:
        return "TRUE" if value else "FALSE"


class Option(Kind):
    """select, radiobutton, category: one option, by its text (case-insensitively); held as its enum_id."""

    type_name = "option"
    empty = None

    def __init__(self, options: Sequence[tuple[int, str]]) -> None:
        self.options = tuple(options)
        self.text_of = dict(self.options)
        self.by_text: dict[str, int] = {}
        for i, t in self.options:
            self.by_text.setdefault(t.strip().casefold(), i)

    def allowed(self) -> str:
        return ", ".join(t for _id, t in self.options)

    def one(self, t: str) -> int:
        found = self.by_text.get(t.strip().casefold())
        if found is None:
            raise ValueProblem(
                _("is not an option of this field; use one of: {options}").format(options=self.allowed())
            )
        return found

    def read(self, cell: Cell) -> Any:
        t = text(cell)
        return self.one(t) if t else None

    def cell(self, value: Any) -> Cell:
        return "" if value is None else self.text_of.get(value, str(value))

    def from_amo(self, values: AmoValues) -> Any:
        if not values:
            return None
        v = values[0]
        if v.get("enum_id") is not None:
            return int(v["enum_id"])
        return self.by_text.get(str(v.get("value", "")).strip().casefold())

    def to_amo(self, value: Any) -> AmoValues | None:
        # By enum_id: a text that is not exactly an option fails the whole deal (API-NOTES).
        return None if value is None else [{"enum_id": value}]


class Options(Option):
    """multiselect: a set of options, their texts joined by ``, ``; held as sorted enum_ids."""

    type_name = "options"
    empty: Any = ()

    def read(self, cell: Cell) -> Any:
        parts = [p for p in re.split(r"[,;\n]", text(cell)) if p.strip()]
        return tuple(sorted({self.one(p) for p in parts}))

    def cell(self, value: Any) -> Cell:
        chosen = set(value or ())
        known = [t for i, t in self.options if i in chosen]
        unknown = [str(i) for i in sorted(chosen - set(self.text_of))]
        return ", ".join(known + unknown)

    def from_amo(self, values: AmoValues) -> Any:
        ids = set()
        for v in values:
            i = v.get("enum_id")
            if i is None:
                i = self.by_text.get(str(v.get("value", "")).strip().casefold())
            if i is not None:
                ids.add(int(i))
        return tuple(sorted(ids))

    def to_amo(self, value: Any) -> AmoValues | None:
        return [{"enum_id": i} for i in value] if value else None


_READ_DATE = N_("is not a date; write it as 2026-12-02 or 02.12.2026")
_READ_MOMENT = N_("is not a date and time; write it as 2026-12-02 14:30 or 02.12.2026 14:30")
# 2026-12-02, 02.12.2026, 02.12.26 or 02/12/2026; then, optionally, 14:30 or 14:30:59 (or T14:30).
_MOMENT = re.compile(
    r"(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<d2>\d{1,2})[./](?P<m2>\d{1,2})[./](?P<y2>\d{4}|\d{2}))"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)


def _parse_moment(t: str) -> datetime | None:
    """A date (and time) as people type them; None when it is not one."""
    m = _MOMENT.fullmatch(t.strip())
    if m is None:
        return None
    year = m["y"] or m["y2"]
    if len(year) == 2:
        year = "20" + year
    try:
        return datetime(
            int(year),
            int(m["m"] or m["m2"]),
            int(m["d"] or m["d2"]),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
        )
    except ValueError:
        return None


def _from_serial(serial: float) -> datetime:
    return _SHEETS_EPOCH + timedelta(days=serial)


class Day(Kind):
    """date, birthday: a calendar day in the account's time zone, written as a real date cell."""

    type_name = "date"
    problem = _READ_DATE
    rounding = timedelta(0)

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def canonical(self, moment: datetime) -> str:
        return moment.date().isoformat()

    def read(self, cell: Cell) -> Any:
        if isinstance(cell, bool):
            raise ValueProblem(_(self.problem))
        if isinstance(cell, int | float):
            return self.canonical(_from_serial(float(cell)) + self.rounding)
        t = text(cell)
        if not t:
            return ""
        moment = _parse_moment(t)
        if moment is None:
            raise ValueProblem(_(self.problem))
        return self.canonical(moment)

    def cell(self, value: Any) -> Cell:
        return DateText(value) if value else ""

    def from_amo(self, values: AmoValues) -> Any:
        moment = _amo_moment(values[0].get("value") if values else None, self.tz)
        return self.canonical(moment) if moment else ""

    def to_amo(self, value: Any) -> AmoValues | None:
        if not value:
            return None
        midnight = datetime.combine(date.fromisoformat(value), datetime.min.time(), self.tz)
        return [{"value": int(midnight.timestamp())}]


class Moment(Day):
    """date_time (and the deal's own created/updated/closed): to the minute, in the account's time zone."""

    type_name = "date_time"
    problem = _READ_MOMENT
    rounding = timedelta(seconds=30)  # a serial's float error must not lose the minute

    def canonical(self, moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M")

    def cell(self, value: Any) -> Cell:
        return DateText(value.replace("T", " ") + ":00") if value else ""

    def show(self, value: Any) -> str:
        return value.replace("T", " ") if value else "∅"

    def of_unix(self, unix: int) -> str:
        return self.canonical(datetime.fromtimestamp(unix, self.tz)) if unix else ""

    def to_amo(self, value: Any) -> AmoValues | None:
        if not value:
            return None
        local = datetime.strptime(value, "%Y-%m-%dT%H:%M").replace(tzinfo=self.tz)
        return [{"value": int(local.timestamp())}]


def _amo_moment(raw: Any, tz: tzinfo) -> datetime | None:
    """A date field's value as amoCRM sends it: Unix time, or (newer API versions) an RFC 3339 string."""
    if raw in (None, "", 0):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, tz)
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(tz)


class Tags(Kind):
    """The lead's tags: names joined by ``, ``, compared as a set (case-insensitively)."""

    type_name = "tags"
    empty: Any = ()

    def read(self, cell: Cell) -> Any:
        return tag_set(p for p in re.split(r"[,;\n]", text(cell)))

    def cell(self, value: Any) -> Cell:
        return ", ".join(value or ())

    def spelled_as(self, value: tuple[str, ...], held: Iterable[tuple[str, ...] | None]) -> tuple[str, ...]:
        """Tags typed in another case than amoCRM spells them, spelled as it does (amoCRM keeps one
        spelling of a tag for the whole account: `опт` typed is the tag `Опт`)."""
        spelling: dict[str, str] = {}
        for tags in held:  # the first spelling held wins: amoCRM's, then the last sync's
            for t in tags or ():
                spelling.setdefault(t.casefold(), t)
        return tag_set(spelling.get(t.casefold(), t) for t in value)


def tag_set(names: Iterable[Any]) -> tuple[str, ...]:
    """Tag names, trimmed, once each (case-insensitively), in a stable order."""
    seen: dict[str, str] = {}
    for n in names:
        n = (n if type(n) is str else str(n)).strip()
        if n and (key := n.casefold()) not in seen:
            seen[key] = n
    if len(seen) < 2:
        return tuple(seen.values())
    return tuple(seen[k] for k in sorted(seen))


class User(Kind):
    """The responsible user, by name; by id where the token may not list users."""

    type_name = "user"
    empty = None

    def __init__(self, users: Mapping[int, str] | None) -> None:
        self.users = users
        self.writable = users is not None
        self.by_name = {n.strip().casefold(): i for i, n in (users or {}).items()}

    def read(self, cell: Cell) -> Any:
        t = text(cell)
        if not t:
            return None
        if t.isdigit():
            return int(t)
        if self.users is None:
            raise ValueProblem(
                _(
                    "amoCRM lets only an administrator's token list users, so this column shows user ids and is "
                    "read-only; change the responsible user in amoCRM"
                )
            )
        found = self.by_name.get(t.casefold())
        if found is None:
            raise ValueProblem(
                _("is not a user of this amoCRM account; use one of: {users}").format(
                    users=", ".join(self.users.values())
                )
            )
        return found

    def cell(self, value: Any) -> Cell:
        if value is None:
            return ""
        return (self.users or {}).get(value, value)


def kind_for(amo_type: str, enums: Sequence[tuple[int, str]], tz: tzinfo) -> Kind:
    """The kind of an amoCRM custom field type (CONTRACT.md's table)."""
    if amo_type in ("text", "textarea", "url", "streetaddress"):
        return Kind()
    if amo_type in ("numeric", "monetary", "price"):
        return Number()
    if amo_type == "checkbox":
        return Checkbox()
    if amo_type in ("select", "radiobutton", "category"):
        return Option(enums)
    if amo_type == "multiselect":
        return Options(enums)
    if amo_type in ("date", "birthday"):
        return Day(tz)
    if amo_type == "date_time":
        return Moment(tz)
    if amo_type == "multitext":
        return Multitext(enums[0][0] if enums else None)
    return ReadOnlyText()
