"""`amosheets demo`: the tool at work on the sandbox, for a newcomer with no account and no key."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from amosheets.config import load_settings
from amosheets.engine import Engine, Options
from amosheets.errors import ExitStatus
from amosheets.output import Output
from amosheets.report import print_outcome
from amosheets.sandbox import Sandbox
from amosheets.sync.plan import Direction


def show_sheet(o: Output, sb: Sandbox, title: str) -> None:
    assert sb.spreadsheet_id is not None
    values = sb.sheets.values(sb.spreadsheet_id, sb.worksheet)
    header = [str(h) for h in values[0]] if values else []
    rows = [[str(c) for c in r] + [""] * (len(header) - len(r)) for r in values[1:]]
    o.table(title, header, rows)


def run_demo(o: Output) -> int:
    with tempfile.TemporaryDirectory(prefix="amosheets-demo-") as tmp, Sandbox() as sb:
        sb.seed_sample()
        env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(Path(tmp) / "state")}
        settings = load_settings(env_file=None, environ=env)
        o.info(f"Started local emulators: amoCRM at {sb.amocrm_url}, Google Sheets at {sb.sheets_url}.\n")
        show_sheet(o, sb, "1. The sheet: three rows typed in, no deals yet")
        o.info(f"   amoCRM already holds {len(sb.amocrm.leads())} deals.\n")

        def step(title: str, options: Options) -> int:
            o.info(f"\n{title}")
            outcome = Engine(settings, options).run()
            print_outcome(o, options.direction.value, outcome, as_json=False)
            return int(outcome.exit_status)

        step(
            "2. A dry run of the first sync (with pull --all): what would change; nothing is sent",
            Options(Direction.BOTH, dry_run=True, backfill=True),
        )
        status = step(
            "3. amosheets pull --all, then amosheets sync   (the first real run)",
            Options(Direction.PULL, backfill=True),
        )
        status = max(status, step("", Options(Direction.BOTH)))
        show_sheet(o, sb, "\nThe sheet now: every row has its deal, and amoCRM's deals have rows")

        lead = sb.amocrm.leads()[0]
        talks = next(s for s in sb.amocrm.main_pipeline()["_embedded"]["statuses"] if s["name"] == "Принимают решение")
        product = sb.amocrm.find_field("Продукт")
        premium = next(e["id"] for e in product["enums"] if e["value"] == "Премиум")
        sb.amocrm.clock.advance(5)
        sb.amocrm.edit_lead(
            lead["id"],
            status_id=talks["id"],
            price=99000,
            custom_fields_values=[{"field_id": product["id"], "values": [{"enum_id": premium}]}],
        )
        sid = sb.spreadsheet_id or ""
        row2 = sb.sheets.values(sid, sb.worksheet)[1]
        sb.sheets.edit_cell(sid, sb.worksheet, "E2", "17500")
        sb.sheets.edit_cell(sid, sb.worksheet, "J2", "2026-12-20")
        o.info(
            f"\n4. A manager moves deal {lead['id']} to 'Принимают решение', sets 99000 and the product "
            f"'Премиум' in amoCRM; in the sheet someone types 17500 and a new meeting date into row 2 "
            f"(deal {row2[0]})."
        )
        status = max(status, step("5. amosheets sync", Options(Direction.BOTH)))
        show_sheet(o, sb, "\nThe sheet after the second sync")
        typed = sb.amocrm.lead(int(row2[0]))
        meeting = next(
            f["values"][0]["value"]
            for f in typed.get("custom_fields_values") or []
            if f["field_name"] == "Дата встречи"
        )
        when = datetime.fromtimestamp(int(meeting), ZoneInfo("Europe/Moscow")).date()
        o.info(
            f"\nIn amoCRM, deal {row2[0]} now has price {typed['price']} and meeting date {when}: the sheet's "
            "edits arrived. The sheet holds the date as a real date (it sorts and filters as one)."
        )
        status = max(status, step("6. amosheets sync   (again: nothing left to do)", Options(Direction.BOTH)))
        o.info(
            "\nThat's the whole loop. To use your own sheet and account, follow README.md "
            "(amosheets check tells you what is missing)."
        )
        return status if status else ExitStatus.OK
