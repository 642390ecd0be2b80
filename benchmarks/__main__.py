"""``python -m benchmarks``: run the scenarios and print one table.

    python -m benchmarks                      # everything (under 10 minutes on 2 cores)
    python -m benchmarks --quick              # every scenario at 1/10 size, a smoke run
    python -m benchmarks --only idle-10k --only pull-10k
    python -m benchmarks --markdown           # the table as Markdown, for the README
    python -m benchmarks --custom             # only the rows with 12 custom columns and those they compare with
    python -m benchmarks --sync-column        # only the rows with the Синхронизация column and those they compare with
    python -m benchmarks --pairs              # only the rows of amosheets.toml's several pairs and accounts (pairs.py)
    python -m benchmarks --startup            # only the start-up time: `amosheets --version`, the import (startup.py)

Exits 1 when a scenario's outcome check fails (the table's notes say which and why).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable

from benchmarks import pairs, planner_bench, startup
from benchmarks.scenarios import BASES, CF, OWN_WRITE_READS, SCENARIOS, SYNC, Result, Variant, with_variant
from benchmarks.world import AMO_LATENCY, AMO_RATE_LIMIT, CATALOG_ROUTES, SHEETS_QUOTA, catalog_requests

SLOWER = 0.10  # a variant this much slower than its base is flagged (profile it)

PLANNER = "planner-100k"
NAMES = [s.name for s in SCENARIOS] + [PLANNER, *pairs.NAMES]
COLUMNS = (
    "Scenario",
    "Rows",
    "amoCRM req",
    "Mut",
    "Sheets req",
    "Sheets mut",
    "Wall s",
    "Bound s",
    "Ratio",
    "CPU s",
    "Peak MB",
    "429s",
    "Max/1s",
    "Notes",
)
DASH = "—"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME", choices=NAMES, help=f"one of: {', '.join(NAMES)}")
    ap.add_argument("--quick", action="store_true", help="every scenario at 1/10 size (a smoke run)")
    ap.add_argument("--markdown", action="store_true", help="print the table as a Markdown table")
    ap.add_argument(
        "--custom",
        action="store_true",
        help="the scenarios with 12 custom-field columns and the ones without that they are compared with",
    )
    ap.add_argument(
        "--sync-column",
        action="store_true",
        help="the scenarios with the Синхронизация column and the ones without that they are compared with",
    )
    ap.add_argument(
        "--pairs",
        action="store_true",
        help="only the rows of several pairs and accounts in one run (amosheets.toml; not part of a plain run)",
    )
    ap.add_argument(
        "--startup",
        action="store_true",
        help=f"only the start-up time: `amosheets --version` and the CLI module's import, median of {startup.RUNS} "
        "runs (--quick: 5); not part of a plain run",
    )
    args = ap.parse_args(argv)
    if args.startup:  # seconds, no emulator: lines of its own, not rows of the scenarios' table
        return startup.main(5 if args.quick else startup.RUNS)
    divisor = 10 if args.quick else 1
    variants = [v for v, on in ((CF, args.custom), (SYNC, args.sync_column)) if on]
    # A plain run measures the base scenarios; each variant is measured with its own flag, next to its bases.
    wanted = list(args.only or ([] if variants or args.pairs else [*BASES, PLANNER]))
    if args.pairs:
        wanted += pairs.NAMES
    for v in variants:
        wanted += with_variant(v)

    started = time.perf_counter()
    print(f"amosheets benchmarks — {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    print(f"CPUs: {os.cpu_count()}; scale: {'1/10 (--quick)' if args.quick else 'full'}")
    print(
        f"Measured runs: amoCRM emulator {AMO_RATE_LIMIT} req/s (429 beyond), {AMO_LATENCY} s per request; "
        f"Sheets emulator quotas {SHEETS_QUOTA}/min, no latency. Each run: `python -m amosheets <cmd> --json` "
        "in a subprocess started by a bare launcher; wall (perf_counter), CPU and peak RSS are that process's own "
        "(os.wait4)."
    )
    print(f"Bound = fewest amoCRM requests the work needs at the API's batch limits / {AMO_RATE_LIMIT} per second.\n")
    sys.stdout.flush()

    jobs: list[tuple[str, Callable[[], list[Result]]]] = []
    for s in SCENARIOS:
        if s.name in wanted:
            jobs.append((s.name, lambda s=s: [s.run(divisor)]))
    if PLANNER in wanted:
        jobs.append((PLANNER, lambda: [planner_bench.run(100_000 // divisor)]))
    for rows in pairs.ROWS:  # each gives several rows
        if rows.name in wanted:
            jobs.append((rows.name, lambda rows=rows: rows.run(divisor)))

    results: list[Result] = []
    for name, job in jobs:
        t0 = time.perf_counter()
        print(f"… {name}", end="", file=sys.stderr, flush=True)
        try:
            got = job()
        except Exception as e:  # a scenario that cannot even be set up still gets its row
            got = [Result(name, 0)]
            got[0].failures.append(f"{type(e).__name__}: {e}")
        results += got
        state = "FAILED" if any(res.failures for res in got) else "ok"
        print(f" {state} ({time.perf_counter() - t0:.1f} s including setup)", file=sys.stderr, flush=True)

    comparison = _compare(results)  # before the table: a pair whose requests differ fails its row
    table = [_cells(r) for r in results]
    print(_markdown(table) if args.markdown else _plain(table))
    print()
    for r in results:
        print(f"{r.name}: {r.what}")
    if comparison:
        print("\n" + "\n".join(comparison))
    failed = [r for r in results if r.failures]
    for r in failed:
        print(f"\n!!! {r.name}: OUTCOME CHECK FAILED — this row's numbers do not measure a working run:")
        for f in r.failures:
            print(f"!!!   {f}")
    print(f"\nTotal wall time: {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


def _cells(r: Result) -> list[str]:
    measured = r.run is not None
    bound = r.bound_seconds if measured else 0.0
    ratio = f"{r.wall / bound:.2f}×" if measured and bound > 0 and r.wall is not None else DASH
    notes = list(r.notes)
    if r.failures:
        first = r.failures[0] if len(r.failures[0]) <= 90 else r.failures[0][:89] + "…"
        notes.insert(0, f"FAILED ({len(r.failures)} checks, see below): {first}")
    return [
        r.name,
        f"{r.rows:,}",
        str(r.amo.get("requests", DASH)) if measured else DASH,
        str(r.amo.get("mutating", DASH)) if measured else DASH,
        str(r.sheets.get("requests", DASH)) if measured else DASH,
        str(r.sheets.get("mutating", DASH)) if measured else DASH,
        _num(r.wall, 2),
        f"{bound:.2f} ({r.bound_requests} req)" if measured else DASH,
        ratio,
        _num(r.cpu, 2),
        _num(r.peak_mb, 0),
        str(r.amo.get("rate_limited", DASH)) if measured else DASH,
        str(r.amo.get("max_requests_in_1s", DASH)) if measured else DASH,
        "; ".join(notes),
    ]


def _compare(results: list[Result]) -> list[str]:
    """Each variant's scenarios beside their bases: times, bounds, request counts. A failure when amoCRM's
    counts differ by more than the variant's catalog slack (for the custom columns, the requests of
    CATALOG_ROUTES, one round), or the variant's Sheets counter (all requests, or the writes) differs."""
    by_name = {r.name: r for r in results}
    out: list[str] = []
    for variant in dict.fromkeys(r.variant for r in results if r.variant is not None):
        pairs = [(r, by_name[r.base]) for r in results if r.variant == variant and r.base in by_name]
        if pairs:
            out += ["", *_compare_variant(variant, pairs)]
    return out[1:]


def _compare_variant(v: Variant, pairs: list[tuple[Result, Result]]) -> list[str]:
    sheets_what = "Sheets requests" if v.sheets_compared == "requests" else "Sheets write requests"
    catalog = f"; catalog = requests to {', '.join(CATALOG_ROUTES)}" if v.catalog_slack else ""
    out = [
        f"With {v.what} vs without (amoCRM requests total/mutating, Sheets requests total/writes; "
        f"compared: amoCRM and {sheets_what}{catalog}):"
    ]
    for var, base in pairs:
        if var.run is None or base.run is None:
            out.append(f"  {var.name}: not compared (a run is missing)")
            continue
        # A request amoCRM answered 429 is sent again, and a list page past the last one is sent or not as the
        # answers race (the listings stream): both are counted, neither is work. Compared: the rest.
        amo_var, amo_base = _amo_work(var.amo), _amo_work(base.amo)
        mut_var, mut_base = var.amo.get("mutating", 0), base.amo.get("mutating", 0)
        retried = bool(var.amo.get("rate_limited") or base.amo.get("rate_limited"))
        sh_var, sh_base = _sheets_work(var.sheets), _sheets_work(base.sheets)
        shw_var, shw_base = _sheets_work(var.sheets, "write"), _sheets_work(base.sheets, "write")
        sheets_same = sh_var == sh_base if v.sheets_compared == "requests" else shw_var == shw_base
        own = v.own_write and shw_base == 0 and shw_var == 1 and sh_var == sh_base + OWN_WRITE_READS + 1
        sheets_same = sheets_same or own
        extra = var.catalog - base.catalog
        same = (
            amo_var - var.catalog == amo_base - base.catalog
            and 0 <= extra <= v.catalog_slack
            and (mut_var == mut_base or retried)  # a 429 may have been a write: then the totals decide
            and sheets_same
        )
        slower = (var.wall or 0) / (base.wall or 1) - 1
        first_var, first_base = var.first_run, base.first_run
        catalog_now = f"; catalog in this run {var.catalog} vs {base.catalog}" if v.catalog_slack else ""
        out.append(
            f"  {var.name} vs {base.name}: wall {_num(var.wall, 2)} vs {_num(base.wall, 2)} s ({slower:+.0%}), "
            f"bound {var.bound_seconds:.2f} vs {base.bound_seconds:.2f} s; amoCRM {amo_var}/{mut_var} vs "
            f"{amo_base}/{mut_base}; Sheets {sh_var}/{shw_var} vs {sh_base}/{shw_base}{catalog_now}"
            f" — {_verdict(same, extra, own)}" + _retries(var, base)
        )
        if var.sheet_writes or base.sheet_writes:
            out.append(f"    Sheets writes, body bytes: {_writes(var)} vs {_writes(base)}")
        if sh_var != sh_base or shw_var != shw_base:
            out.append(f"    Sheets by route: {var.sheets.get('by_route')} vs {base.sheets.get('by_route')}")
        if amo_var - var.catalog != amo_base - base.catalog:
            out.append(f"    amoCRM by route: {var.amo.get('by_route')} vs {base.amo.get('by_route')}")
        if first_var and first_base and v.catalog_slack:
            out.append(
                f"    the state's first run (setup's pull --all): amoCRM {first_var.get('requests')} vs "
                f"{first_base.get('requests')} requests, of them the catalog {catalog_requests(first_var)} vs "
                f"{catalog_requests(first_base)} (read once, then cached in the state)"
            )
        if not same:
            var.failures.append(
                f"requests differ from {base.name}'s: amoCRM {amo_var}/{mut_var} (catalog {var.catalog}) vs "
                f"{amo_base}/{mut_base} (catalog {base.catalog}), Sheets {sh_var}/{shw_var} vs {sh_base}/{shw_base} "
                f"(compared: {sheets_what})"
            )
        if slower > SLOWER:
            out.append(f"    slower by {slower:.0%} (> {SLOWER:.0%}): worth a profile")
    return out


def _verdict(same: bool, extra: int, own: bool) -> str:
    if not same:
        return "REQUESTS DIFFER"
    if own:
        return "same amoCRM requests; the base writes nothing to the sheet, so the lines take a write of their own"
    return "same requests" + (f" + {extra} for the catalog" if extra else "")


def _work(stats: dict, rejected: str = "rate_limited") -> int:
    """Requests less those the service answered 429 (each was sent again)."""
    return int(stats.get("requests", 0)) - int(stats.get(rejected) or 0)


def _amo_work(stats: dict) -> int:
    """amoCRM requests less those answered 429 and the list pages asked for past the last one."""
    return _work(stats) - int(stats.get("pages_past_end") or 0)


def _sheets_work(stats: dict, kind: str | None = None) -> int:
    """Sheets requests (``kind`` "write": the mutating ones) less those the quota refused (each was sent again)."""
    sent = int(stats.get("requests" if kind is None else "mutating", 0))
    refused = stats.get("quota_rejections") if kind is None else stats.get("quota_rejections_by_kind", {}).get(kind)
    return sent - int(refused or 0)


def _writes(r: Result) -> str:
    return "[" + ", ".join(f"{n:,}" for _, n in r.sheet_writes) + "]"


def _retries(var: Result, base: Result) -> str:
    n_var, n_base = var.amo.get("rate_limited") or 0, base.amo.get("rate_limited") or 0
    return f" (not counted: amoCRM 429s {n_var} vs {n_base})" if n_var or n_base else ""


def _num(v: float | None, digits: int) -> str:
    return DASH if v is None else f"{v:.{digits}f}"


def _plain(rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in col) for col in zip(COLUMNS, *rows, strict=True)]
    right = set(range(1, len(COLUMNS) - 1))

    def line(cells: list[str] | tuple[str, ...]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _markdown(rows: list[list[str]]) -> str:
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---" if i in (0, len(COLUMNS) - 1) else "---:" for i in range(len(COLUMNS))]
    return "\n".join([line(COLUMNS), line(align), *(line(r) for r in rows)])


if __name__ == "__main__":
    sys.exit(main())
