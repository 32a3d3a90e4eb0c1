"""The documentation's command lines exist: every `passport …` command quoted in the README,
docs/ and config/ names a real command, and every option it shows is one of that command's
(docs go stale quietly when an option is renamed)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from passport.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "config").iterdir())]
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"(?:^|[\s/(=])passport\s+([a-z][^|;&)`\n]*)")


def quoted_code(text: str) -> Iterator[tuple[int, str]]:
    """Lines of fenced code blocks and inline code spans, with their line numbers."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            yield number, line
        else:
            yield from ((number, span) for span in SPAN.findall(line))


def command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for document in DOCUMENTS:
        for number, code in quoted_code(document.read_text(encoding="utf-8")):
            for match in COMMAND.finditer(code):
                text = match.group(1).split("#")[0]
                try:
                    words = shlex.split(text)
                except ValueError:  # an unclosed quote around $(…): words are enough
                    words = text.split()
                found.append((f"{document.name}:{number}: passport {text.strip()}", words))
    return found


def problem_of(words: list[str]) -> str | None:
    """What is wrong with ``passport WORDS`` (None: the command and its options exist)."""
    command: click.Command = main
    depth = 0
    while isinstance(command, click.Group) and depth < len(words) and (
            words[depth] in command.commands):
        command = command.commands[words[depth]]
        depth += 1
    if depth == 0:
        return f"no command {words[0]!r}"
    following = words[depth] if depth < len(words) else None
    if isinstance(command, click.Group) and following and not following.startswith("-"):
        return f"no subcommand {following!r}"
    options = {name for param in command.params
               for name in (*param.opts, *param.secondary_opts)} | {"--help"}
    unknown = [word.split("=")[0] for word in words[depth:]
               if word.startswith("-") and word.split("=")[0] not in options]
    return f"no option {unknown}" if unknown else None


COMMANDS = command_lines()


def test_the_documents_quote_commands() -> None:
    assert len(COMMANDS) >= 50  # the extraction works (it found 68 when written)


@pytest.mark.parametrize(("where", "words"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_exists(where: str, words: list[str]) -> None:
    assert problem_of(words) is None, where


@pytest.mark.parametrize(("words", "problem"), [
    (["flux", "ingest", "f.xml", "--report-directory", "r"], "no option ['--report-directory']"),
    (["flux", "ingestion"], "no subcommand 'ingestion'"),
    (["fluxes", "ingest"], "no command 'fluxes'"),
    (["serve", "--host", "127.0.0.1", "--port=8000"], None),
])
def test_a_stale_command_is_caught(words: list[str], problem: str | None) -> None:
    assert problem_of(words) == problem
