"""What the documentation quotes exists: every `passport …` command in the README, docs/ and
config/ names a real command, and every option it shows is one of that command's; every
API path it names (with its method, when given) is in the committed ``openapi.json``. Docs
go stale quietly when an option or a route is renamed."""

from __future__ import annotations

import json
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


ROUTE = re.compile(r"(?:(GET|POST|PATCH|PUT|DELETE)\s+)?(/api/v1/[A-Za-z0-9_{}/\-.…]*|/health\b)")


def documented_routes() -> list[tuple[str, str | None, str]]:
    found = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            for method, path in ROUTE.findall(line):
                found.append((f"{document.name}:{number}", method or None,
                              path.split("?")[0].rstrip("/.")))
    return found


def route_problem(method: str | None, path: str, spec: dict[str, dict[str, object]]
                  ) -> str | None:
    """What is wrong with ``METHOD PATH`` against the spec's paths (None: it is there). A
    path ending in "…" or a prefix of routes (``/api/v1/me``…) names a family."""
    if path.endswith("…") or (method is None and any(p.startswith(path) for p in spec)):
        return None
    matching = [p for p in spec if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)),
                                                path)]
    if not matching:
        return f"no route {path}"
    if method and not any(method.lower() in spec[p] for p in matching):
        return f"no {method} on {path}"
    return None


SPEC = json.loads((ROOT / "openapi.json").read_text())["paths"]
ROUTES = documented_routes()


def test_the_documents_name_routes() -> None:
    assert len(ROUTES) >= 100


def test_documented_routes_exist() -> None:
    wrong = [f"{where}: {problem}" for where, method, path in ROUTES
             if (problem := route_problem(method, path, SPEC))]
    assert wrong == []


@pytest.mark.parametrize(("method", "path", "problem"), [
    ("GET", "/api/v1/me/passport", None),
    ("GET", "/api/v1/me/shares/12", None),
    ("POST", "/api/v1/me/passport", "no POST on /api/v1/me/passport"),
    (None, "/api/v1/me/portfolio", "no route /api/v1/me/portfolio"),
])
def test_a_stale_route_is_caught(method: str | None, path: str, problem: str | None) -> None:
    assert route_problem(method, path, SPEC) == problem
