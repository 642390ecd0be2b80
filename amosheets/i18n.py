"""Words that depend on a number, chosen by one rule.

``plural`` has ``ngettext``'s shape (one form, the other form, the number), so that translating
the messages with gettext replaces its body and none of its callers. Give it the whole phrase,
not only the noun: other languages agree more than the noun with the number
(``1 сделка создана``, ``2 сделки созданы``, ``5 сделок создано``).
"""

from __future__ import annotations


def plural(n: int, one: str, many: str) -> str:
    """``one`` when ``n`` is 1, else ``many``; ``{n}`` in the chosen text becomes the number.

    ``plural(2, "{n} deal created", "{n} deals created")`` → ``2 deals created``;
    ``{n:,}`` groups the thousands (``1,203 rows``).
    """
    return (one if n == 1 else many).format(n=n)
