"""`amosheets demo`: the tool at work on the sandbox, for a newcomer with no account and no key."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from amosheets.config import load_settings
from amosheets.engine import Engine, Options
from amosheets.errors import ExitStatus
from amosheets.i18n import _, plural
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


def show_formula_stays_text(o: Output, sb: Sandbox) -> None:
    """Point at the sample deal whose name is a formula, and show from the sheet that it stayed text."""
    sid = sb.spreadsheet_id or ""
    rows = sb.sheets.values(sid, sb.worksheet)
    at = next(i for i, row in enumerate(rows) if len(row) > 1 and str(row[1]).startswith("="))
    cell = sb.sheets.cell(sid, sb.worksheet, f"B{at + 1}")
    kind = _("plain text") if cell["type"] == "string" else cell["type"]
    said = _(
        "Deal {lead_id} is named {name} in amoCRM, and its cell {cell} holds that as {kind}, not a link: amosheets "
        "writes what comes from amoCRM as text, so Sheets never evaluates it — otherwise a name typed in the CRM "
        "could run a formula in your sheet (IMPORTXML, say, sending the sheet's data to someone else's site)."
    )
    o.info("\n   " + said.format(lead_id=rows[at][0], name=cell["entered"], cell=f"B{at + 1}", kind=kind))


def run_demo(o: Output) -> int:
    with tempfile.TemporaryDirectory(prefix="amosheets-demo-") as tmp, Sandbox() as sb:
        sb.seed_sample()
        env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(Path(tmp) / "state")}
        settings = load_settings(env_file=None, environ=env)
        o.info(
            _("Started local emulators: amoCRM at {amocrm}, Google Sheets at {sheets}.").format(
                amocrm=sb.amocrm_url, sheets=sb.sheets_url
            )
            + "\n"
        )
        show_sheet(o, sb, _("1. The sheet: three rows typed in, no deals yet"))
        deals = len(sb.amocrm.leads())
        o.info("   " + plural(deals, "amoCRM already holds {n} deal.", "amoCRM already holds {n} deals.") + "\n")

        def step(title: str, options: Options) -> int:
            o.info(f"\n{title}")
            outcome = Engine.from_settings(settings, options).run()
            print_outcome(o, options.direction.value, outcome, as_json=False)
            return int(outcome.exit_status)

        step(
            _("2. A dry run of the first sync (with pull --all): what would change; nothing is sent"),
            Options(Direction.BOTH, dry_run=True, backfill=True),
        )
        status = step(
            _("3. amosheets pull --all, then amosheets sync   (the first real run)"),
            Options(Direction.PULL, backfill=True),
        )
        status = max(status, step("", Options(Direction.BOTH)))
        show_sheet(o, sb, "\n" + _("The sheet now: every row has its deal, and amoCRM's deals have rows"))
        show_formula_stays_text(o, sb)

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
        sb.sheets.edit_cell(sid, sb.worksheet, "E4", "пять тысяч")
        said = _(
            "4. A manager moves deal {lead_id} to {status}, sets 99000 and the product {product} in amoCRM; in the "
            "sheet someone types 17500 and a new meeting date into row 2 (deal {row2_deal}), and {typed} as the "
            "price of row 4."
        )
        o.info(
            "\n"
            + said.format(
                lead_id=lead["id"],
                status="'Принимают решение'",
                product="'Премиум'",
                row2_deal=row2[0],
                typed="'пять тысяч'",
            )
        )
        before = sb.amocrm.lead(int(row2[0]))["price"]
        o.info(
            "   "
            + _("Before the sync, amoCRM has deal {lead_id} at price {price}; the sheet says 17500.").format(
                lead_id=row2[0], price=before
            )
        )
        # Row 4 fails on purpose (exit status 3, "some rows failed"): the demo shows it, it is not the demo failing.
        step(_("5. amosheets sync"), Options(Direction.BOTH))
        show_sheet(o, sb, "\n" + _("The sheet after the second sync"))
        typed = sb.amocrm.lead(int(row2[0]))
        meeting = next(
            f["values"][0]["value"]
            for f in typed.get("custom_fields_values") or []
            if f["field_name"] == "Дата встречи"
        )
        when = datetime.fromtimestamp(int(meeting), ZoneInfo("Europe/Moscow")).date()
        said = _(
            "After the sync, amoCRM has deal {lead_id} at price {price} (it was {before}) and meeting date {date}: "
            "the sheet's edits arrived. The sheet holds the date as a real date (it sorts and filters as one)."
        )
        o.info("\n" + said.format(lead_id=row2[0], price=typed["price"], before=before, date=when))
        bad = sb.sheets.values(sid, sb.worksheet)[3]
        said = _(
            "Row 4 did not go through, and says why in its {header} cell: {text}. The other rows went through; "
            "each says what happened to it, so nobody has to read cron's mail."
        )
        o.info(said.format(header="Синхронизация", text=repr(bad[-1])))
        sb.sheets.edit_cell(sid, sb.worksheet, "E4", "5 000")
        status = max(
            status, step(_("6. Someone fixes row 4 (types 5 000), and amosheets sync"), Options(Direction.BOTH))
        )
        fixed = sb.sheets.values(sid, sb.worksheet)[3]
        o.info("   " + _("Row 4's {header} cell now says {text}.").format(header="Синхронизация", text=repr(fixed[-1])))
        status = max(status, step(_("7. amosheets sync   (again: nothing left to do)"), Options(Direction.BOTH)))
        o.info(
            "\n"
            + _(
                "That's the whole loop. To use your own sheet and account, follow README.md "
                "(amosheets check tells you what is missing)."
            )
        )
        return status if status else ExitStatus.OK
