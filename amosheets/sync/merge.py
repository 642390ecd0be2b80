"""How one field is reconciled: the three-way merge and the conflict policy.

For each synced field of a lead we know three values: what the sheet holds now, what
amoCRM holds now, and what both held at the last sync (the *base*). A side that differs
from the base has changed; that change is copied to the other side. When both changed to
the same value nothing is sent. When both changed to different values it is a conflict,
settled by the policy and reported with both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class ConflictPolicy(str, Enum):
    """Which side wins a field that changed on both sides since the last sync."""

    CRM = "crm"  # the default: amoCRM is the system of record; the sheet's value is reported
    SHEET = "sheet"


DEFAULT_POLICY = ConflictPolicy.CRM


def is_empty(value: Any, empty: Any = "") -> bool:
    return value is None or value == "" or value == empty


@dataclass(frozen=True)
class Outcome:
    value: Any  # what both sides should hold
    to_crm: bool  # amoCRM must be given `value`
    to_sheet: bool  # the sheet's cell must be set to `value`
    conflict: bool


def merge(
    base: Any,
    sheet: Any,
    crm: Any,
    policy: ConflictPolicy,
    sheet_has_value: bool = True,
    empty: Any = "",
    writable: bool = True,
) -> Outcome:
    """Reconcile one field. ``base`` is None when the lead was never synced.

    ``sheet_has_value`` is False for a cell that says nothing (an empty Статус, Воронка or
    Имя): the sheet then keeps no opinion and takes amoCRM's value. ``empty`` is the field's
    empty value (0 for an amount). A field that is not ``writable`` always takes amoCRM's value.
    """
    if not writable:
        return Outcome(crm, False, crm != sheet or not sheet_has_value, False)
    if not sheet_has_value:
        sheet = base if base is not None else crm
    conflict = False
    if sheet == crm or (base is not None and sheet == base):
        value = crm
    elif base is not None and crm == base:
        value = sheet
    elif base is None and is_empty(sheet, empty):
        value = crm
    elif base is None and is_empty(crm, empty):
        value = sheet
    else:
        conflict = True
        value = crm if policy is ConflictPolicy.CRM else sheet
    return Outcome(
        value=value,
        to_crm=value != crm,
        to_sheet=value != sheet or (not sheet_has_value and not is_empty(value, empty)),
        conflict=conflict,
    )
