"""planner-100k: ``amosheets.sync.planner.plan`` alone, in this process, on rows that are all in sync.

Inputs are built the way ``tests/sync/factories.py`` builds them: a Catalog like the sandbox
account's, ``match_headers`` of the default header row, SheetRows as the sheet returns them
(UNFORMATTED_VALUE: ids and prices as numbers), and a Known record per lead holding amoCRM's
values and the same values as the base. ``plan()``'s signature is being changed while it is
optimised, so the call is made from whatever parameters it has now (see ``_call_args``).
"""

from __future__ import annotations

import gc
import inspect
import time
from typing import Any

from amosheets.sync import planner
from amosheets.sync.fields import DEFAULT_HEADER_ROW, Key, match_headers
from amosheets.sync.model import Catalog, CrmLead, Known, Pipeline, SheetRow, Status
from amosheets.sync.plan import Direction
from benchmarks.scenarios import Result

MAIN = 7000001
FIRST = 61000002
REPEAT = 3  # best of


def catalog() -> Catalog:
    statuses = (
        Status(61000001, "Неразобранное", 10, 1),
        Status(FIRST, "Первичный контакт", 20),
        Status(61000003, "Переговоры", 30),
        Status(61000004, "Принимают решение", 40),
        Status(61000005, "Согласование договора", 50),
        Status(142, "Успешно реализовано", 10000),
        Status(143, "Закрыто и не реализовано", 11000),
    )
    main = Pipeline(MAIN, "Воронка", True, statuses)
    partners = Pipeline(
        7000002,
        "Партнёры",
        False,
        (
            Status(61000011, "Неразобранное", 10, 1),
            Status(61000012, "Новый партнёр", 20),
            Status(142, "Успешно реализовано", 10000),
            Status(143, "Закрыто и не реализовано", 11000),
        ),
    )
    return Catalog({MAIN: main, 7000002: partners}, MAIN, FIRST)


def inputs(n: int) -> dict[str, Any]:
    """Every argument plan() might want, for ``n`` rows × 7 columns in sync with amoCRM and the state."""
    cat = catalog()
    header_row = list(DEFAULT_HEADER_ROW)
    headers = match_headers(header_row)
    settable = [s for s in cat.pipelines[MAIN].statuses if s.type != 1]
    rows: list[SheetRow] = []
    known: dict[int, Known] = {}
    for i in range(n):
        lid = 30_000_001 + i
        status = settable[i % len(settable)]
        crm = CrmLead(
            lid,
            {Key.NAME: f"Сделка {i + 1}", Key.PRICE: (i * 1000) % 1_000_000, Key.STATUS: status.id, Key.PIPELINE: MAIN},
            1_700_000_000,
            50_000_001 + i,
            (f"+7 9{i:09d}",),
            (f"client{i + 1}@example.com",),
        )
        rows.append(SheetRow(i + 2, (lid, crm.name, crm.phones[0], crm.emails[0], crm.price, status.name, "Воронка")))
        known[lid] = Known(lid, crm=crm, base=crm.values(), has_row=True)
    return {
        "headers": headers,
        "header_row": header_row,
        "rows": rows,
        "catalog": cat,
        "known": known,
        "direction": Direction.BOTH,
    }


def _call_args(candidates: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The keyword arguments plan() takes now, from ``candidates``; required ones we cannot give → error."""
    sig = inspect.signature(planner.plan)
    args: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in candidates and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            args[name] = candidates[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"plan{sig} wants {name!r}, which the benchmark does not know how to build")
    return args, list(sig.parameters)


def run(n: int) -> Result:
    res = Result("planner-100k", n, f"plan() in-process, {n:,} rows × 7 columns all in sync (best of {REPEAT})")
    try:
        args, params = _call_args(inputs(n))
    except TypeError as e:
        res.failures.append(str(e))
        return res
    best: tuple[float, float] | None = None
    result = None
    for _ in range(REPEAT):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = planner.plan(**args)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    assert best is not None and result is not None
    res.wall, res.cpu = best
    res.notes.append("plan(" + ", ".join(p for p in params if p in args) + ")")
    changes = {
        "creates": len(result.creates()),
        "lead_updates": len(result.lead_updates()),
        "contact_updates": len(result.contact_updates()),
        "cell_updates": len(result.cell_updates()),
        "row_appends": len(result.row_appends()),
        "conflicts": len(result.conflicts),
        "problems": len(result.problems),
    }
    res.check(not any(changes.values()), f"the plan of rows all in sync is not empty: {changes}")
    res.check(result.rows_read == n, f"rows_read {result.rows_read}, expected {n}")
    return res
