"""`amosheets demo`: the tool at work on the sandbox, for a newcomer with no account and no key."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
        sb.amocrm.clock.advance(5)
        sb.amocrm.edit_lead(lead["id"], status_id=talks["id"], price=99000)
        sb.sheets.edit_cell(sb.spreadsheet_id or "", sb.worksheet, "E2", "17500")
        o.info(
            f"\n4. A manager moves deal {lead['id']} to 'Принимают решение' and sets 99000 in amoCRM;"
            " someone types 17500 into E2 in the sheet."
        )
        status = max(status, step("5. amosheets sync", Options(Direction.BOTH)))
        show_sheet(o, sb, "\nThe sheet after the second sync")
        o.info(f"\namoCRM deal {sb.amocrm.leads()[0]['id']}: price {sb.amocrm.leads()[0]['price']}.")
        status = max(status, step("6. amosheets sync   (again: nothing left to do)", Options(Direction.BOTH)))
        o.info(
            "\nThat's the whole loop. To use your own sheet and account, follow README.md "
            "(amosheets check tells you what is missing)."
        )
        return status if status else ExitStatus.OK
