"""README.md (English) and README.ru.md (Russian) kept in step: the same sections, the same commands, and the
two commands at the top the ones CI runs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = ("README.md", "README.ru.md")
FENCE = re.compile(r"^\s*```")
# A comment after code: whitespace, then `#` and a space (or the end of the line). `#` inside a word, a URL or
# `$#` is not one; none of the README's code blocks has a `#` of its own after whitespace.
TRAILING_COMMENT = re.compile(r"\s+#(\s.*)?$")
# A backticked span that is a command of the tool (`amosheets sync --dry-run`, `amosheets --env-file … sync`).
INLINE_COMMAND = re.compile(r"`(amosheets(?: [^`]*)?)`")


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def outside_code(text: str) -> list[str]:
    """The lines of a Markdown text outside its fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def heading_levels(text: str) -> list[int]:
    """The level of every heading, in order (`#` → 1, `##` → 2, …); a `#` comment in a code block is no heading."""
    return [len(m.group(1)) for line in outside_code(text) if (m := re.match(r"^(#{1,6}) \S", line))]


def code_line(line: str) -> str | None:
    """What of a code block's line must be the same in both languages, or None for a line that is only a comment.

    Comments are translated; code is not. A trailing comment (whitespace, `#`, text) is cut off. A line that is
    all comment counts as code when it is commented-out code, that is when what follows the `#` (less its own
    trailing comment) has a `=` or starts with `[` (`# AMOCRM_PIPELINE_ID=…`, `# [account.agency]`): then it is
    compared as it stands, `# ` included. Any other comment line is prose, and left out."""
    stripped = line.strip()
    if stripped.startswith("#"):
        body = TRAILING_COMMENT.sub("", stripped[1:].strip())
        return "# " + body if "=" in body or body.startswith("[") else None
    code = TRAILING_COMMENT.sub("", line).rstrip()
    return code or None


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Every fenced code block, in order: its language and its code lines (blank and comment lines left out)."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    lang = ""
    for line in text.splitlines():
        if FENCE.match(line):
            if current is None:
                lang, current = line.strip()[3:].strip(), []
            else:
                blocks.append((lang, current))
                current = None
        elif current is not None and (code := code_line(line)) is not None:
            current.append(code)
    assert current is None, "a code block is not closed"
    return blocks


# What the reader puts in place of a word in capitals (`--out PATH`, `--out ПУТЬ`) is named in the README's language.
PLACEHOLDER = re.compile(r"\b[A-ZА-ЯЁ]{2,}\b")


def inline_commands(text: str) -> Counter[str]:
    """Every `amosheets …` in backticks outside code blocks, with how often it occurs; its placeholders as ``…``."""
    return Counter(PLACEHOLDER.sub("…", cmd) for line in outside_code(text) for cmd in INLINE_COMMAND.findall(line))


def test_the_english_readme_names_its_placeholders_in_english():
    assert not [line for line in outside_code(read("README.md")) if re.search(r"--[a-z-]+ [А-ЯЁ]{2,}", line)]


def top_commands(text: str) -> list[str]:
    """The two commands at the top: the bash blocks of the first `##` section (demo, then tests)."""
    first = text.split("\n## ", 2)[1]
    return [lines[0] for lang, lines in code_blocks(first) if lang == "bash" and len(lines) == 1]


def test_each_readme_links_the_other_at_the_top():
    assert read("README.md").splitlines()[0] == "[Русская версия](README.ru.md)"
    assert read("README.ru.md").splitlines()[0] == "[English version](README.md)"


def test_both_readmes_have_the_same_sections():
    en, ru = (heading_levels(read(name)) for name in READMES)
    assert en.count(1) == 1 and en.count(2) >= 10  # the rule sees the headings at all
    assert en == ru, "README.md and README.ru.md differ in the number or order of their headings at some level"


def test_both_readmes_give_the_same_code_blocks():
    en, ru = (code_blocks(read(name)) for name in READMES)
    assert len(en) >= 15 and any(lines for _, lines in en)
    assert [lang for lang, _ in en] == [lang for lang, _ in ru]
    for i, ((lang, en_lines), (_, ru_lines)) in enumerate(zip(en, ru, strict=True)):
        assert en_lines == ru_lines, f"code block {i + 1} ({lang}) differs"


def test_both_readmes_give_the_same_inline_commands():
    en, ru = (inline_commands(read(name)) for name in READMES)
    assert sum(en.values()) >= 30 and "amosheets demo" in en
    assert en == ru, {"only in README.md": en - ru, "only in README.ru.md": ru - en}


def test_the_two_commands_at_the_top_are_the_same_and_ci_runs_the_test_command():
    demo = "python3 -m venv .venv && . .venv/bin/activate && pip install . && amosheets demo"
    tests = "python3 -m venv .venv && . .venv/bin/activate && pip install -q '.[test]' && python -m pytest -q"
    for name in READMES:
        assert top_commands(read(name)) == [demo, tests], name
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


DOCS = sorted(path.name for path in (ROOT / "docs").glob("*.md") if not path.name.endswith(".ru.md"))


@pytest.mark.parametrize("name", DOCS)
def test_each_doc_has_a_russian_twin_in_step(name: str):
    twin = name.removesuffix(".md") + ".ru.md"
    en, ru = read(f"docs/{name}"), read(f"docs/{twin}")
    assert en.splitlines()[0] == f"[Русская версия]({twin})"
    assert ru.splitlines()[0] == f"[English version]({name})"
    assert heading_levels(en) == heading_levels(ru)
    assert code_blocks(en) == code_blocks(ru)
    assert inline_commands(en) == inline_commands(ru)


def test_each_readme_links_the_docs_in_its_own_language():
    links = re.compile(r"\]\((docs/[^)]+\.md)\)")
    en, ru = (links.findall(read(name)) for name in READMES)
    assert en and all(not link.endswith(".ru.md") for link in en)
    assert ru == [link.removesuffix(".md") + ".ru.md" for link in en]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("GOOGLE_WORKSHEET=Сделки            # название вкладки", "GOOGLE_WORKSHEET=Сделки"),
        ("# AMOCRM_PIPELINE_ID=…             # воронка для новых сделок", "# AMOCRM_PIPELINE_ID=…"),
        ("# [account.agency]                       # второй аккаунт amoCRM", "# [account.agency]"),
        ("# на сервере, в /srv/amosheets/.env:", None),
        ("# (или, для входа по OAuth, вместо token_env:)", None),
        ('curl -s "http://x/#frag" -d "a#b"', 'curl -s "http://x/#frag" -d "a#b"'),
        ("amosheets check              # всё ✓", "amosheets check"),
    ],
)
def test_the_rule_for_code_lines(line: str, code: str | None):
    assert code_line(line) == code
