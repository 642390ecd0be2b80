"""The tool in each language, through the CLI against the sandbox: what it says, its help and the sync column."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from amosheets import cli, i18n
from amosheets.cli import app
from amosheets.sandbox import SAMPLE_HEADERS
from amosheets.sync.fields import BUILT_INS, SYNC_HEADERS

from .conftest import World
from .language_rules import KEPT, cyrillic_left, english_words_left


@pytest.fixture
def spoken(world: World):
    """A sheet with a good new row, a row with a bad number and a near-miss header, in amoCRM a deal."""
    world.set_rows(
        [["", "Анна", "", "", "100", "", "", ""], ["", "Борис", "", "", "пять", "", "", ""]],
        [*SAMPLE_HEADERS, "Синхронизация", "Сума"],
    )
    return world


def run(w: World, lang: str, *args: str) -> str:
    r = w.cli(*args, env={**w.env, "AMOSHEETS_LANG": lang, "COLUMNS": "200"})
    assert "Traceback" not in r.stderr
    return r.stdout + r.stderr


def test_a_run_in_russian_says_everything_in_russian(spoken: World):
    said = [
        run(spoken, "ru", *args) for args in (("check",), ("sync", "--dry-run"), ("sync",), ("status",), ("sync", "-h"))
    ]
    said.append(run(spoken, "ru", "--help"))
    for text in said:
        assert english_words_left(text) == [], text
    whole = "\n".join(said)
    assert "ошибка: строка 3, столбец Сумма" in whole  # the bad row, named
    assert "Строка 1:" not in said[0] and "Сума" in said[0]  # check's header line, without its "Row 1:"
    cells = {r[1]: r[7] for r in spoken.rows()[1:]}
    assert "сделка создана" in cells["Анна"] and cells["Борис"].startswith("✗ Сумма")


def test_a_run_in_english_has_no_russian_but_data(spoken: World):
    said = [
        run(spoken, "en", *args) for args in (("check",), ("sync", "--dry-run"), ("sync",), ("status",), ("sync", "-h"))
    ]
    said.append(run(spoken, "en", "--help"))
    for text in said:
        assert cyrillic_left(text) == [], text
    cells = {r[1]: r[7] for r in spoken.rows()[1:]}
    assert "deal created" in cells["Анна"]


def test_the_locale_chooses_when_the_setting_does_not(spoken: World):
    env = {**spoken.env, "LC_ALL": "ru_RU.UTF-8"}
    r = spoken.cli("sync", "--dry-run", env=env)
    assert "холостой запуск" in r.stdout + r.stderr
    r = spoken.cli("sync", "--dry-run", env={**env, "AMOSHEETS_LANG": "en"})
    assert "dry run" in r.stdout + r.stderr


# --help and usage errors, for every command, in process through the entry point (amosheets.cli.main).


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the click tree, with the words that name it (the root's: none)."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


_TREE = typer.main.get_command(app)
_PATHS = [path for path, _command in _commands(_TREE)]
_NAMES = {name for path in _PATHS for name in path}

# What --help may show in Latin letters beyond english_words_left's names: the examples' lines (indented
# commands), metavars (`<crm|sheet>`, [account.NAME]), the names of Google's console screens (`Google Cloud
# console → APIs & Services → …`); then the commands' names, the column headers' English names, and what the
# user types or reads as it is (a value of --conflict, a key of amosheets.toml, Ctrl-C, .env, ?code=).
_HELP_DATA = re.compile(
    r"^ {4,}(?:amosheets|\*/5) .*$|<[^<>\n]*>|\[\w+\.[A-Z]+\]|(?:[\w&]+ )*[\w&]+(?: → (?:[\w&]+ )*[\w&]+)+", re.M
)
_HELP_NAMES = re.compile(
    r"\b(?:"
    + "|".join(map(re.escape, sorted({*_NAMES, *(h for s in BUILT_INS for h in s.headers), *SYNC_HEADERS})))
    + r"|crm|conflict|stdout|localhost|cron|crontab|Ctrl-C)\b|\.env\b|\?\w+=",
)


def latin_words_left(text: str) -> list[str]:
    """Every word of three or more Latin letters in a Russian --help or usage error, once names, commands,
    options, metavars, environment variables and quoted examples are out: stricter than english_words_left."""
    return re.findall(r"\b[A-Za-z]{3,}\b", _HELP_NAMES.sub(" ", KEPT.sub(" ", _HELP_DATA.sub(" ", text))))


@pytest.fixture
def entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """``entry(lang, *args)``: amosheets ARGS run through ``amosheets.cli.main`` in ``lang``, in this process;
    its exit status and what it said on stdout and stderr. The language in use before is restored after."""
    before = i18n.current()
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(cli, "_state", None)

    def run_main(lang: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("AMOSHEETS_LANG", lang)
        with pytest.raises(SystemExit) as stopped:
            cli.main(list(args))
        said = capsys.readouterr()
        return int(stopped.value.code or 0), said.out, said.err

    yield run_main
    i18n.use(before)


def typer_itself(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """What typer alone says for amosheets ARGS (its own main, standalone, help untranslated): the English
    the tool said before its Russian covered the command-line library's words."""
    with pytest.raises(SystemExit) as stopped:
        typer.main.get_command(app).main(args=list(args), prog_name="amosheets", standalone_mode=True)
    said = capsys.readouterr()
    return int(stopped.value.code or 0), said.out, said.err


@pytest.mark.parametrize("path", _PATHS, ids=lambda p: " ".join(p) or "amosheets")
def test_every_help_is_in_the_language_of_the_run(entry, capsys, path):
    status, out, err = entry("ru", *path, "--help")
    assert status == 0 and err == ""
    assert latin_words_left(out) == [], out
    assert out.startswith("Использование: amosheets") and "Параметры:" in out
    assert "Показать эту справку и выйти." in out
    status, out, err = entry("en", *path, "--help")
    assert cyrillic_left(out) == [], out
    i18n.use("en")
    assert (status, out, err) == typer_itself(capsys, *path, "--help")  # English: as typer says it


def test_the_help_of_options_and_groups_in_russian(entry):
    _status, out, _err = entry("ru", "status", "--help")
    assert "Использование: amosheets status [ПАРАМЕТРЫ]" in out and "[по умолчанию: 10]" in out
    assert "-n, --last <целое>" in out
    _status, out, _err = entry("ru", "auth", "--help")
    assert "Использование: amosheets auth [ПАРАМЕТРЫ] КОМАНДА [АРГУМЕНТЫ]..." in out and "Команды:" in out
    _status, out, _err = entry("ru", "auth", "amocrm", "--help")
    assert "[обязательный]" in out
    status, out, err = entry("ru")  # no command: the help, on stderr
    assert status == 2 and out == "" and err.startswith("Использование: amosheets") and "Код выхода:" in err


# Usage errors and the Russian of what they say.
_USAGE_ERRORS = [
    (("sync", "--bogus"), "ошибка: Нет такого параметра: --bogus"),
    (("sync", "--dry"), "ошибка: Нет такого параметра: --dry (похожие: --dry-run)"),
    (("nosuchcommand",), "ошибка: Нет такой команды: 'nosuchcommand'."),
    (("snyc",), "ошибка: Нет такой команды: 'snyc'. Возможно, имелась в виду 'sync'?"),
    (("auth", "nosuch"), "ошибка: Нет такой команды: 'nosuch'."),
    (("-q",), "ошибка: Не указана команда."),
    (("auth", "amocrm"), "ошибка: Не указан параметр '--code'."),
    (("status", "--last", "abc"), "ошибка: Недопустимое значение '--last' / '-n': нужно целое число"),
    (("--deadline", "abc"), "ошибка: Недопустимое значение '--deadline': нужно число"),
    (("--deadline", "-1"), "ошибка: Недопустимое значение '--deadline': нужно число не меньше 0"),
    (("auth", "google", "--port", "99999"), "Недопустимое значение '--port': нужно число не больше 65535"),
    (("sync", "--conflict", "x"), "ошибка: Недопустимое значение '--conflict': 'x' — не одно из 'crm', 'sheet'."),
    (("status", "-n"), "ошибка: Параметру '-n' нужно значение."),
    (("sync", "--dry-run=1"), "ошибка: Параметр '--dry-run' не принимает значения."),
    (("sync", "5"), "ошибка: Лишние аргументы: 5"),
]


@pytest.mark.parametrize(("args", "russian"), _USAGE_ERRORS, ids=[" ".join(args) for args, _ru in _USAGE_ERRORS])
def test_usage_errors_are_said_in_the_language_of_the_run(entry, capsys, args, russian):
    status, out, err = entry("ru", *args)
    assert status == 2 and out == ""
    assert russian in err, err
    assert latin_words_left(err) == [], err
    i18n.use("en")
    english = typer_itself(capsys, *args)
    # As in English: the usage line and where the help of the command at fault is, when click gives them (an
    # option's missing value it reports alone).
    command = " ".join(["amosheets", *itertools.takewhile(_NAMES.__contains__, args)])
    assert err.startswith(f"Использование: {command} ") == english[2].startswith(f"Usage: {command} ")
    assert (f"Справка: '{command} -h'." in err) == (f"Try '{command} -h' for help." in english[2])
    status, out, err = entry("en", *args)
    assert cyrillic_left(err) == []
    assert (status, out, err) == english  # English: as typer says it
