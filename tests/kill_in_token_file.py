"""Run amosheets, killing itself (SIGKILL) just before the N-th file operation on its amoCRM token file.

For tests/test_crash_oauth.py: ``python tests/kill_in_token_file.py N COUNT_FILE -- amosheets arguments``.
The operations counted are the token file module's own (open, fsync, replace, remove: every step of
writing a file durably). N = 0 kills nowhere; COUNT_FILE then receives how many there were.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import types
from pathlib import Path
from typing import Any

from amosheets.amocrm import token_file
from amosheets.cli import main

STEPS = ("open", "fsync", "replace", "remove")


def counting_os(target: int, count_file: Path) -> types.SimpleNamespace:
    """``os`` as the token file module sees it: the same, with each of STEPS counted."""
    seen = [0]
    atexit.register(lambda: count_file.write_text(str(seen[0])))

    def counted(real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            seen[0] += 1
            if seen[0] == target:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return step

    shim = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    for name in STEPS:
        setattr(shim, name, counted(getattr(os, name)))
    return shim


if __name__ == "__main__":
    target, count_file, dashes, *args = sys.argv[1:]
    assert dashes == "--"
    token_file.os = counting_os(int(target), Path(count_file))  # type: ignore[assignment]
    main(args)
