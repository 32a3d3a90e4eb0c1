"""The ``passport`` command line.

Each command owns its transaction(s).  Errors print a clear message on stderr and exit
non-zero (1 for a failed operation, 2 for a usage error, as click does).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from passport import logs
from passport.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from ingestion.validate import ValidationResult

T = TypeVar("T")
log = logging.getLogger(__name__)
err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


class CliContext:
    """Settings, engine and sessions, created on first use."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._factory: sessionmaker[Session] | None = None

    def close(self) -> None:
        """Close the database connections (at the end of every command)."""
        if self._factory is not None:
            bind = self._factory.kw["bind"]
            bind.dispose()
            self._factory = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except ConfigurationError as exc:
                raise click.ClickException(f"configuration: {exc}") from None
        return self._settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._factory is None:
            from passport.db import make_engine, make_session_factory

            self._factory = make_session_factory(make_engine(self.settings.database_url))
        return self._factory

    @contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[Session]:
        from passport.db import unit_of_work

        with unit_of_work(self.sessions, immediate=immediate) as session:
            yield session

    def vault(self) -> Any:
        from passport.nir import NirVault

        return NirVault(self.settings)


pass_cli = click.make_pass_decorator(CliContext, ensure=True)


def _progress(*columns: Any) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class _Commands(click.Group):
    """Database failures (unreachable, locked, not migrated) end a command with one line,
    not a traceback: the driver's own first line (never the statement or its parameters,
    which may hold personal data)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            first = (str(exc.orig).strip().splitlines() or ["unreachable"])[0]
            missing = "no such table" in first or getattr(exc.orig, "sqlstate", "") == "42P01"
            if isinstance(exc, ProgrammingError) and not missing:
                raise
            hint = (" — another command is writing to it; run this one again when it has "
                    "finished" if "database is locked" in first else
                    " — is the database migrated? passport db upgrade" if missing else "")
            raise click.ClickException(f"database: {first}{hint}") from None


@click.group(cls=_Commands)
@click.version_option(package_name="passport")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Skills passport backend: certifier flux ingestion and the passport API."""
    ctx.call_on_close(ctx.ensure_object(CliContext).close)
    try:
        logs.configure(os.environ.get("PASSPORT_LOG_LEVEL", "WARNING").upper(),
                       os.environ.get("PASSPORT_LOG_FORMAT", "text"),
                       os.environ.get("PASSPORT_LOG_FILE"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


# -- db ---------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_cli
def db_upgrade(cli: CliContext, revision: str) -> None:
    """Migrate the configured database to the latest schema."""
    from passport.migrate import upgrade

    upgrade(cli.settings.database_url, revision)
    err.print(f"database at {revision}")


@db.command("check")
@pass_cli
def db_check(cli: CliContext) -> None:
    """Fail when the models and the migrations disagree."""
    from alembic.util.exc import CommandError

    from passport.migrate import check

    try:
        check(cli.settings.database_url)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None


# -- flux -------------------------------------------------------------------------------
@main.group()
def flux() -> None:
    """Certifier flux files: validate and ingest."""


def _schema_option(f: Callable[..., T]) -> Callable[..., T]:
    return click.option(
        "--schema",
        "schema_version",
        type=click.Choice(["1.1.2", "1.1.5"]),
        default=None,
        help="Schema version (default: PASSPORT_FLUX_SCHEMA, else 1.1.5). 1.1.2 gives the "
        "official verdict and refuses the provisional 1.1.5 additions.",
    )(f)


@flux.command("validate")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, per line.")
@_schema_option
@pass_cli
def flux_validate(cli: CliContext, files: tuple[Path, ...], as_json: bool,
                  schema_version: str | None) -> None:
    """Check bytes, schema and business rules of FILES without touching the database.

    Exit status: 0 when every file is schema-valid, 1 when one is not, 2 on usage errors.
    """
    from ingestion.pipeline import Source
    from ingestion.validate import validate

    options = cli.settings.ingest_options(schema_version)
    all_valid = True
    for path in files:
        with closing(validate(str(path), Source(path), max_bytes=options.max_bytes,
                              schema_version=options.schema_version,
                              subprocess_min_bytes=options.subprocess_min_bytes,
                              spooled=True)) as result:
            all_valid &= result.schema_valid
            if as_json:
                sys.stdout.flush()
                result.write_json(sys.stdout.buffer)
            else:
                _print_verdict(path, result)
    sys.exit(0 if all_valid else 1)


def _print_verdict(path: Path, result: ValidationResult) -> None:
    if not result.schema_valid:
        out.print(f"[red]✗[/red] {path}: {len(result.errors)} problem(s)")
        for problem in result.errors:
            where = f"{problem.line}:{problem.column}" if problem.line else "-"
            out.print(f"    {where} [{problem.code}] {problem.message}", markup=False)
        return
    out.print(f"[green]✓[/green] {path}: schema valid, {result.passages_total} passages, "
              f"{result.passages_ko} breaking business rules")
    for p in result.passages:
        if not p["ok"]:
            out.print(f"    {p['id_technique']}: {' ; '.join(p['messages'])}", markup=False)


@flux.command("ingest")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to write each processing report (XML).")
@_schema_option
@pass_cli
def flux_ingest(cli: CliContext, files: tuple[Path, ...], report_dir: Path,
                schema_version: str | None) -> None:
    """Process FILES into the store and write their processing reports.

    Exit status 0 when every file was processed (even with KO passages), 1 when a file was
    rejected as a whole.
    """
    summaries = ingest_files(cli, files, report_dir, schema_version)
    table = Table(title="Ingestion")
    for column in ("file", "status", "passages", "OK", "KO", "warnings", "seconds", "report"):
        table.add_column(column)
    for s in summaries:
        table.add_row(s["file"], s["status"], str(s["passages"]), str(s["ok"]), str(s["ko"]),
                      str(s["warnings"]), f"{s['seconds']:.1f}", s["report"])
    out.print(table)
    rejected = [s for s in summaries if s["status"] == "REJETE"]
    total_ok = sum(s["ok"] for s in summaries)
    total_ko = sum(s["ko"] for s in summaries)
    out.print(f"{len(summaries)} file(s): {total_ok} passages OK, {total_ko} KO, "
              f"{len(rejected)} file(s) rejected, {sum(s['seconds'] for s in summaries):.1f} s")
    for s in rejected:
        out.print(f"  {s['file']}: [{s['error_code']}] {s['error']}", markup=False)
    sys.exit(1 if rejected else 0)


def _advance(progress: Progress, task: Any, done: int) -> None:
    progress.update(task, completed=done)


def ingest_files(cli: CliContext, files: tuple[Path, ...] | list[Path], report_dir: Path,
                 schema_version: str | None = None) -> list[dict[str, Any]]:
    """Ingest files one by one; return a summary per file (also used by ``demo load``)."""
    from ingestion.pipeline import Source
    from ingestion.report import report_file_name
    from passport.deposits import service

    options = cli.settings.ingest_options(schema_version)
    report_dir.mkdir(parents=True, exist_ok=True)
    vault = cli.vault()
    summaries = []
    with _progress(DownloadColumn()) as progress:
        for path in files:
            started = time.perf_counter()
            sha256, size = service.file_digest(path)
            task = progress.add_task(path.name, total=size)
            # SQLite: the write lock first, waiting for another run's load to end (up to
            # the busy timeout) instead of failing at once.
            with cli.transaction(immediate=True) as session:
                deposit_id = service.receive(session, file_name=path.name, sha256=sha256,
                                             size=size).id
            try:
                deposit = service.process(
                    cli.sessions, deposit_id, Source(path), vault=vault, options=options,
                    progress=functools.partial(_advance, progress, task),
                )
            except Exception as exc:
                # Not the file's fault (that is a rejection, with its report): the database
                # or the machine failed. The deposit goes back to waiting, for a new run.
                log.exception("deposit %s: processing failed; released", deposit_id)
                service.release(cli.sessions, deposit_id)
                raise click.ClickException(
                    f"{path}: processing stopped ({type(exc).__name__}, details in the log); "
                    f"deposit {deposit_id} was released: run the command again") from None
            progress.remove_task(task)
            if deposit is None:
                raise click.ClickException(f"{path}: deposit {deposit_id} is being processed "
                                           "by another run")
            with cli.transaction() as session:
                report = service.load_report(session, deposit_id)
            assert report is not None
            target = report_dir / report_file_name(path.name, deposit.received_at.date())
            report.write_xml(target)  # reads the stored outcomes as it writes
            summaries.append({
                "file": str(path), "deposit": deposit_id, "status": deposit.status.value,
                "passages": deposit.passages_total, "ok": deposit.passages_ok,
                "ko": deposit.passages_ko, "warnings": deposit.warnings_count,
                "seconds": time.perf_counter() - started, "report": str(target),
                "error_code": deposit.error_code, "error": deposit.error_message,
            })
    return summaries


# -- imports ----------------------------------------------------------------------------
def _run_import(cli: CliContext, path: Path, label: str,
                action: Callable[[Session, Path, Any, Callable[[int], None]], int]) -> None:
    from passport.csvimport import ImportFailed, count_rows

    started = time.perf_counter()
    total = count_rows(path)
    try:
        with _progress(MofNCompleteColumn()) as progress, cli.transaction() as session:
            task = progress.add_task(label, total=total)
            count = action(session, path, cli.vault(),
                           lambda done: progress.update(task, completed=done))
    except ImportFailed as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise click.ClickException(f"{path}: {where}{exc.message} (nothing was imported)") from None
    err.print(f"{count} {label} imported from {path} in {time.perf_counter() - started:.1f} s")


@main.group()
def identities() -> None:
    """The identity directory extract (NIR and civil status) used for NIRisation."""


@identities.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def identities_import(cli: CliContext, file: Path) -> None:
    """Load an identity extract CSV (upsert by NIR; idempotent). An optional column
    nir_precedent (a former number) brings the passport of that number to the row's."""
    from passport.holders.service import Renumbered, import_identities

    renumbered = Renumbered()
    _run_import(cli, file, "identities",
                functools.partial(import_identities, renumbered=renumbered))
    if renumbered.renamed or renumbered.merged:
        err.print(f"former numbers: {renumbered.renamed} passport(s) now under the new number, "
                  f"{renumbered.merged} merged into the new number's passport")


@main.group("training-files")
def training_files() -> None:
    """CPF training files ("dossiers de formation")."""


@training_files.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def training_files_import(cli: CliContext, file: Path) -> None:
    """Load a CPF training files CSV (upsert by id_dossier; idempotent)."""
    from passport.training.service import import_training_files

    _run_import(cli, file, "training files", import_training_files)


# -- certifiers -------------------------------------------------------------------------
@main.group()
def certifiers() -> None:
    """The certifier registry. While it is empty, any certifier may file."""


@certifiers.command("add")
@click.option("--bcr", required=True, help="The certifier's 8-character BCR.")
@click.option("--contrat", "contracts", multiple=True, required=True,
              help="A CDC contract id (repeatable).")
@click.option("--name", default=None)
@click.option("--siret", default=None)
@pass_cli
def certifiers_add(cli: CliContext, bcr: str, contracts: tuple[str, ...], name: str | None,
                   siret: str | None) -> None:
    """Register a certifier and its contract(s)."""
    from passport.certifiers.service import RegistryError, add_certifier

    try:
        with cli.transaction() as session:
            add_certifier(session, bcr, list(contracts), name, siret)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"certifier {bcr} registered with contract(s) {', '.join(contracts)}")


@certifiers.command("mandate")
@click.option("--depositor", required=True, help="BCR of the mandated third party.")
@click.option("--certifier", required=True, help="BCR of the certifier giving the mandate.")
@pass_cli
def certifiers_mandate(cli: CliContext, depositor: str, certifier: str) -> None:
    """Allow a third party to file on behalf of a certifier."""
    from passport.certifiers.service import RegistryError, add_mandate

    try:
        with cli.transaction() as session:
            add_mandate(session, depositor, certifier)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"{depositor} may now file for {certifier}")


@certifiers.command("list")
@pass_cli
def certifiers_list(cli: CliContext) -> None:
    """Show the registry."""
    from passport.certifiers.service import registry

    table = Table()
    for column in ("BCR", "name", "SIRET", "contracts", "mandated depositors"):
        table.add_column(column)
    with cli.transaction() as session:
        for certifier, contracts, depositors in registry(session):
            table.add_row(certifier.bcr, certifier.name or "", certifier.siret or "",
                          ", ".join(contracts), ", ".join(depositors))
    out.print(table)


# -- OAuth clients ----------------------------------------------------------------------
@main.group()
def clients() -> None:
    """OAuth clients: certifiers' client credentials and front-end applications."""


@clients.command("add")
@click.option("--bcr", required=True, help="BCR of the certifier or mandated depositor.")
@click.option("--name", default=None)
@click.option("--rotate-secret", is_flag=True, help="Issue a new secret for an existing client.")
@pass_cli
def clients_add(cli: CliContext, bcr: str, name: str | None, rotate_secret: bool) -> None:
    """Register a certifier client (client_id = its BCR); print its secret once."""
    from passport.auth.clients import ClientError, add_certifier_client

    try:
        with cli.transaction() as session:
            secret = add_certifier_client(session, bcr, name, rotate=rotate_secret)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"client {bcr}: keep this secret now, it is stored only hashed and never shown again")
    click.echo(secret)


@clients.command("add-app")
@click.option("--client-id", required=True)
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--confidential", is_flag=True, help="A server-side app that keeps a secret.")
@click.option("--scope", "scopes", multiple=True, help="Allowed scope (repeatable).")
@pass_cli
def clients_add_app(cli: CliContext, client_id: str, name: str, redirect_uris: tuple[str, ...],
                    confidential: bool, scopes: tuple[str, ...]) -> None:
    """Register a front end for the authorization code flow (PKCE S256 required)."""
    from passport.auth.clients import ClientError, add_app

    try:
        with cli.transaction() as session:
            secret = add_app(session, client_id, name, list(redirect_uris),
                             confidential=confidential, scopes=list(scopes) or None)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"client {client_id} registered")
    if secret:
        click.echo(secret)


@clients.command("disable")
@click.argument("client_id")
@pass_cli
def clients_disable(cli: CliContext, client_id: str) -> None:
    """Disable a client: its tokens are refused at their next use."""
    from passport.auth.clients import ClientError, disable

    try:
        with cli.transaction() as session:
            disable(session, client_id)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


@clients.command("list")
@pass_cli
def clients_list(cli: CliContext) -> None:
    """Show the registered clients."""
    import sqlalchemy as sa

    from passport.auth.models import OAuthClient

    table = Table()
    for column in ("client id", "name", "kind", "grants", "scope", "state"):
        table.add_column(column)
    with cli.transaction() as session:
        for c in session.scalars(sa.select(OAuthClient).order_by(OAuthClient.client_id)):
            table.add_row(c.client_id, c.name, "public" if c.is_public else "confidential",
                          ", ".join(c.grant_types), c.scope,
                          "disabled" if c.disabled_at else "active")
    out.print(table)


# -- referentials -----------------------------------------------------------------------
@main.group()
def referentials() -> None:
    """France compétences RNCP/RS sheets and France Travail ROME 4.0."""


@referentials.command("import")
@click.argument("kind", type=click.Choice(["rncp", "rs", "csv", "rome"]))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--export-date", type=click.DateTime(["%Y-%m-%d"]),
              help="The export's date when its file name does not say it.")
@pass_cli
def referentials_import(cli: CliContext, kind: str, path: Path,
                        export_date: Any | None) -> None:
    """Import a referential: KIND rncp or rs with the V4.1 XML export (zipped or not), csv
    with the export-fiches-csv zip, rome with the directory of unix_*_vNNN_utf8.csv files.

    Idempotent; one transaction (a failed import changes nothing)."""
    from passport.referentials.sheets import ReferentialError

    started = time.perf_counter()
    try:
        with cli.transaction() as session:
            if kind == "rome":
                from passport.referentials.rome import import_rome

                rome = import_rome(session, path)
                counts, version = rome.counts, rome.version
                for name in rome.recoded:
                    err.print(f"{name}: not UTF-8 despite its name, read as Windows-1252",
                              soft_wrap=True)
            else:
                from passport.deposits.service import file_digest

                sha256, _size = file_digest(path)
                date = export_date.date() if export_date else None
                if kind == "csv":
                    from passport.referentials.csvzip import import_csv_zip

                    result = import_csv_zip(session, path, export_date=date, sha256=sha256)
                else:
                    from passport.referentials.sheets import import_sheets

                    with _progress(DownloadColumn()) as progress:
                        task = progress.add_task(path.name, total=None)
                        result = import_sheets(
                            session, path, kind, export_date=date, sha256=sha256,
                            progress=lambda done: progress.update(task, completed=done))
                counts, version = result.counts(), result.version
            from passport.analytics.refresh import after_referential_import

            if after_referential_import(session) is not None:
                err.print("certification lineages changed: analytics rebuilt")
    except ReferentialError as exc:
        raise click.ClickException(f"{path}: {exc} (nothing imported)") from None
    summary = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
    err.print(f"{kind} {version} imported from {path.name} in "
              f"{time.perf_counter() - started:.1f} s: {summary}", soft_wrap=True)


@main.group()
def analytics() -> None:
    """Success-rate aggregates."""


@analytics.command("refresh")
@pass_cli
def analytics_refresh(cli: CliContext) -> None:
    """Rebuild every aggregate from the training files and passages (the deposits and
    imports keep them up to date; run this after a restore, or nightly as a safety net)."""
    from passport.analytics.refresh import full_refresh
    from passport.maintenance import recorded

    with recorded(cli.sessions, "analytics_refresh"), cli.transaction() as session:
        result = full_refresh(session, cli.settings.analytics_min_cell)
    err.print(f"analytics: {result.files:,} training files → {result.cells:,} cells in "
              f"{result.seconds:.1f} s")


@referentials.command("status")
@pass_cli
def referentials_status(cli: CliContext) -> None:
    """Which referentials are loaded: version, export date, when."""
    from passport.referentials.service import loaded

    table = Table()
    for column in ("referential", "version", "export date", "imported at", "source"):
        table.add_column(column)
    with cli.transaction() as session:
        for kind, info in loaded(session).items():
            table.add_row(kind, info["version"], str(info["export_date"] or "—"),
                          f"{info['imported_at']:%Y-%m-%d %H:%M}", info["source"])
    out.print(table)


# -- workers ----------------------------------------------------------------------------
@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64),
              help="Jobs at once (default: the number of cores; PASSPORT_WORKER_THREADS "
                   "without a broker).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--queues", default="deposits,dry-runs", show_default=True,
              help="With a broker: the queues to take jobs from, comma-separated (`deposits`, "
                   "`dry-runs`). Production runs dry runs on workers of their own.")
@pass_cli
def worker(cli: CliContext, concurrency: int | None, loglevel: str, queues: str) -> None:
    """Process deposits and queued dry runs: a Celery worker when PASSPORT_CELERY_BROKER_URL
    is set; without a broker, a pool in this process that picks up what waits in the
    database."""
    settings = cli.settings
    if settings.celery_broker_url:
        import socket

        from passport.worker import QUEUES, make_celery

        names = [q.strip() for q in queues.split(",") if q.strip()]
        if not names or set(names) - set(QUEUES):
            raise click.BadParameter(f"choose among {', '.join(QUEUES)}", param_hint="--queues")
        argv = ["worker", f"--loglevel={loglevel}", "-Q", ",".join(QUEUES[q] for q in names),
                "--without-gossip", "--without-mingle",
                "-n", f"passport.{os.getpid()}@{socket.gethostname()}"]
        if concurrency:
            argv.append(f"--concurrency={concurrency}")
        make_celery(settings).worker_main(argv)
        return
    import dataclasses
    import signal

    from ingestion.pipeline import start_reader
    from passport.jobs import InProcessQueue, JobContext

    if concurrency:
        settings = dataclasses.replace(settings, worker_threads=concurrency)
    logging.getLogger().setLevel(loglevel.upper())
    start_reader(settings.flux_schema)
    queue = InProcessQueue(JobContext(settings, cli.sessions, cli.vault()))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"worker without a broker: {settings.worker_threads} job(s) at once, looking for "
              f"waiting deposits every {settings.recover_every_seconds} s")
    while not stop.is_set():
        queue.sweeper.sweep()
        stop.wait(settings.recover_every_seconds)
    queue.shutdown()


# -- journal ----------------------------------------------------------------------------
@main.group()
def journal() -> None:
    """Holders' journals: check the hash chains, purge past the retention period."""


@journal.command("verify")
@click.option("--holder-id", type=int, help="Check one holder's chain only.")
@pass_cli
def journal_verify(cli: CliContext, holder_id: int | None) -> None:
    """Check every hash chain; report the first broken link of each broken chain."""
    from passport.journal.service import verify
    from passport.maintenance import Run, recorded

    # Checking one holder's chain is an investigation, not the scheduled check.
    with (recorded(cli.sessions, "journal_verify") if holder_id is None
          else nullcontext(Run("journal_verify"))) as run:
        with cli.transaction() as session:
            checked, broken = verify(session, holder_id)
        for link in broken:
            err.print(f"holder {link.holder_id}: broken at entry {link.seq}: {link.reason}")
        if broken:
            run.failure = f"{len(broken)} broken chain(s) among {checked} entries"
            raise click.ClickException(run.failure)
    err.print(f"{checked} entries checked, every chain intact")


@journal.command("purge")
@click.option("--months", type=click.IntRange(1, 120),
              help="Keep this many months (default: PASSPORT_JOURNAL_RETENTION_MONTHS, 12).")
@click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
@pass_cli
def journal_purge(cli: CliContext, months: int | None, dry_run: bool) -> None:
    """Delete entries older than the retention period; the chains stay verifiable."""
    import sqlalchemy as sa

    from passport.db import utcnow
    from passport.journal.models import JournalEntry
    from passport.journal.service import months_before, purge
    from passport.maintenance import recorded

    before = months_before(utcnow(), months or cli.settings.journal_retention_months)
    if dry_run:
        with cli.transaction() as session:
            count = session.scalar(sa.select(sa.func.count()).where(
                JournalEntry.occurred_at < before)) or 0
        err.print(f"{count} entries older than {before:%Y-%m-%d %H:%M} UTC would be purged")
        return
    with recorded(cli.sessions, "journal_purge"), cli.transaction() as session:
        result = purge(session, before)
    err.print(f"{result.entries} entries older than {before:%Y-%m-%d %H:%M} UTC purged "
              f"from {result.holders} journals")


# -- encryption keys --------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Encryption keys of what is kept for its owner (NIRs, share links): which key holds
    what, and moving it all to the current key after a rotation."""


@keys.command("status")
@pass_cli
def keys_status(cli: CliContext) -> None:
    """Count the stored values by key id; fail when some are under a key not configured."""
    from passport.rekey import census, unreadable

    vault = cli.vault()
    with cli.transaction() as session:
        uses = census(session)
    table = Table()
    for column in ("values", "key id", "count", "key"):
        table.add_column(column)
    for use in uses:
        state = ("current" if use.key_id == vault.key_id else
                 "former, configured" if vault.has_key(use.key_id) else "NOT CONFIGURED")
        table.add_row(use.label, use.key_id, f"{use.count:,}", state)
    out.print(table)
    former = sum(use.count for use in uses if use.key_id != vault.key_id)
    if missing := unreadable(uses, vault):
        raise click.ClickException(
            f"{sum(u.count for u in missing):,} value(s) under a key id the configuration "
            "does not have: add it to PASSPORT_NIR_ENCRYPTION_OLD_KEYS")
    err.print(f"{former:,} value(s) under a former key" + (
        ": run passport keys reencrypt" if former else
        f"; every value is under the current key {vault.key_id!r}, former keys can go"))


@keys.command("reencrypt")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Values per transaction.")
@pass_cli
def keys_reencrypt(cli: CliContext, batch_size: int) -> None:
    """Rewrite every value still under a former key with the current one (resumable)."""
    from passport.rekey import RekeyError, census, reencrypt

    vault = cli.vault()
    with cli.transaction() as session:
        uses = census(session)  # read once: every row of every encrypted column
    total = sum(use.count for use in uses if use.key_id != vault.key_id)
    started = time.perf_counter()
    with _progress(MofNCompleteColumn()) as progress:
        task = progress.add_task("re-encrypting", total=total)
        try:
            done = reencrypt(cli.sessions, vault, batch=batch_size, uses=uses,
                             progress=lambda n: progress.advance(task, n))
        except RekeyError as exc:
            raise click.ClickException(str(exc)) from None
    for label, count in done.items():
        err.print(f"{count:>10,} {label}")
    err.print(f"re-encrypted under key {vault.key_id!r} in {time.perf_counter() - started:.1f} s")


# -- clean-up ---------------------------------------------------------------------------
@main.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
@pass_cli
def cleanup(cli: CliContext, dry_run: bool) -> None:
    """Remove what stopped serving: abandoned logins, ended logins' tokens, used and
    expired codes, consent codes never typed, received files past
    PASSPORT_FLUX_FILE_RETENTION_DAYS (deposits and reports stay), interrupted uploads; and
    bring to its current passport what a deposit wrote under a passport merged meanwhile."""
    from passport.cleanup import run
    from passport.maintenance import recorded

    try:
        with recorded(cli.sessions, "cleanup") if not dry_run else nullcontext():
            swept = run(cli.sessions, cli.settings, dry_run=dry_run)
    except OSError as exc:  # the storage volume (what was removed before it stays removed)
        raise click.ClickException(f"storage: {exc.strerror or exc} ({exc.filename})") from None
    verb = "would be removed" if dry_run else "removed"
    for kind in swept:
        err.print(f"{kind.count:>8} {kind.label} {verb}")


# -- development ------------------------------------------------------------------------
@main.group()
def dev() -> None:
    """Development shortcuts (refused unless PASSPORT_ENV=development)."""


@dev.command("token")
@click.option("--holder-nir", help="A holder, by NIR (15 characters).")
@click.option("--advisor", help="An advisor, as SIRET:EMAIL.")
@click.option("--certifier", help="A certifier, by BCR.")
@click.option("--analyst", help="An analyst, by email.")
@click.option("--scope", default=None, help="Space-separated scopes (default: all of the role's).")
@pass_cli
def dev_token(cli: CliContext, holder_nir: str | None, advisor: str | None,
              certifier: str | None, analyst: str | None, scope: str | None) -> None:
    """Print an access token for one identity, without logging in."""
    from passport.auth.clients import ClientError, dev_token
    from passport.auth.keys import KeyRing
    from passport.auth.models import Role
    from passport.nir import InvalidNir

    chosen = [(r, v) for r, v in ((Role.HOLDER, holder_nir), (Role.ADVISOR, advisor),
                                  (Role.CERTIFIER, certifier), (Role.ANALYST, analyst)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --holder-nir, --advisor, --certifier, --analyst")
    if not cli.settings.dev_tools:
        raise click.ClickException("passport dev token only works with PASSPORT_ENV=development")
    role, value = chosen[0]
    try:
        with cli.transaction() as session:
            token = dev_token(session, cli.settings, KeyRing(cli.settings), role=role,
                              value=value, scope=scope)
    except (ClientError, InvalidNir) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


@dev.command("providers")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--franceconnect-port", default=9400, show_default=True)
@click.option("--proconnect-port", default=9401, show_default=True)
@pass_cli
def dev_providers(cli: CliContext, directory: Path, franceconnect_port: int,
                  proconnect_port: int) -> None:
    """Run local stand-ins for FranceConnect and ProConnect, with demo users from DIRECTORY
    (its identities.csv): a few holders, an advisor and an analyst, one click each."""
    import time

    from passport.auth.demo import demo_users, stand_in

    if not cli.settings.dev_tools:
        raise click.ClickException("passport dev providers only runs with PASSPORT_ENV=development")
    try:
        oidc_provider_mock = stand_in()
    except ImportError:
        raise click.ClickException("install the test extra: pip install -e '.[test]'") from None
    holders, staff = demo_users(directory / "identities.csv", cli.settings)
    with (
        oidc_provider_mock.run_server_in_thread(port=franceconnect_port, require_nonce=True,
                                                user_claims=holders),
        oidc_provider_mock.run_server_in_thread(port=proconnect_port, require_nonce=True,
                                                user_claims=staff),
    ):
        err.print(f"FranceConnect stand-in on http://127.0.0.1:{franceconnect_port} "
                  f"({len(holders)} demo holders), ProConnect stand-in on "
                  f"http://127.0.0.1:{proconnect_port} ({len(staff)} advisor/analyst)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@main.command("openapi")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
def openapi(output: Path | None) -> None:
    """Print (or write) the OpenAPI description; `openapi.json` is committed from this."""
    from passport.app import create_app, openapi_document
    from passport.config import Settings

    app = create_app(Settings.from_env({"PASSPORT_DATABASE_URL": "sqlite://"}))
    document = openapi_document(app)
    app.extensions["passport.engine"].dispose()
    if output:
        output.write_text(document, encoding="utf-8")
        err.print(f"OpenAPI description written to {output}")
    else:
        click.echo(document, nl=False)


# -- serve ------------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=None, type=int,
              help="gunicorn workers (production; default 2 × cores + 1).")
@pass_cli
def serve(cli: CliContext, host: str, port: int, workers: int | None) -> None:
    """Run the HTTP service: Flask's server in development, gunicorn otherwise."""
    from passport.app import create_app
    from passport.metrics import enable_multiprocess

    if cli.settings.env != "development":
        enable_multiprocess()  # the workers' request counts, added up by any worker's scrape
    app = create_app(cli.settings)
    if cli.settings.env == "development":
        app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
        return
    from passport import gunicorn

    gunicorn.serve(app, gunicorn.options(host, port, workers or (2 * (os.cpu_count() or 1) + 1),
                                         cli.settings.request_timeout))


# -- demo -------------------------------------------------------------------------------
@main.group()
def demo() -> None:
    """Synthetic demo data."""


@demo.command("generate")
@click.option("--holders", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--passages", type=click.IntRange(min=0), default=2000, show_default=True)
@click.option("--per-file", type=click.IntRange(1, 200_000), default=100_000, show_default=True,
              help="Passages per flux file (the CDC portal's maximum is 200,000; a file that "
                   "size needs --compact to stay under the default size limit).")
@click.option("--seed", type=int, default=20210701, show_default=True)
@click.option("--compact", is_flag=True,
              help="Default namespace instead of the cpf: prefix (about 20% smaller files).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@pass_cli
def demo_generate(cli: CliContext, holders: int, passages: int, per_file: int, seed: int,
                  compact: bool, out_dir: Path) -> None:
    """Write identities.csv, training_files.csv, flux-NNNN.xml and manifest.json to OUT."""
    from passport.demo.generate import generate

    started = time.perf_counter()
    manifest = generate(out_dir, holders=holders, passages=passages, per_file=per_file,
                        seed=seed, compact=compact)
    err.print(f"{manifest['holders']} holders, {manifest['training_files']} training files, "
              f"{len(manifest['files'])} flux file(s) written to {out_dir} "
              f"in {time.perf_counter() - started:.1f} s")
    limit = cli.settings.max_upload_bytes
    too_large = [f["file"] for f in manifest["files"]
                 if (out_dir / f["file"]).stat().st_size > limit]
    if too_large:
        err.print(f"warning: {', '.join(too_large)} exceed(s) the flux size limit "
                  f"({limit:,} bytes, PASSPORT_MAX_UPLOAD_BYTES): ingestion will reject them; "
                  "use --compact or a smaller --per-file", soft_wrap=True)


def _load_demo_referentials(cli: CliContext) -> None:
    """The sample RNCP/RS sheets and ROME 4.0 subset shipped with the demo."""
    from passport.referentials.csvzip import import_csv_zip
    from passport.referentials.rome import import_rome
    from passport.referentials.sheets import import_sheets

    samples = Path(__file__).parent / "demo" / "referentials"
    with cli.transaction() as session:
        for kind, pattern in (("rncp", "*RNCP_fixture*.xml"), ("rs", "*RS_fixture*.xml")):
            for path in sorted(samples.glob(pattern)):
                import_sheets(session, path, kind)
        for path in sorted(samples.glob("*export-fiches-csv-*.zip")):
            import_csv_zip(session, path)
        rome = import_rome(session, samples)
    err.print(f"sample referentials loaded (RNCP/RS sheets, ROME {rome.version} subset)")


@demo.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_cli
def demo_load(cli: CliContext, directory: Path) -> None:
    """Register the demo certifiers, import identities and training files, ingest the flux."""
    from passport.auth.clients import ensure_demo_client
    from passport.certifiers.service import add_certifier, add_mandate
    from passport.deposits.models import FluxReceipt
    from passport.holders.service import import_identities
    from passport.training.service import import_training_files

    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise click.ClickException(f"{directory} has no manifest.json (passport demo generate)")
    manifest = json.loads(manifest_path.read_text())
    with cli.transaction() as session:
        ensure_demo_client(session, cli.settings)
        for c in manifest["certifiers"]:
            add_certifier(session, c["bcr"], [c["contract"]], c["name"], c["siret"])
        for m in manifest["mandates"]:
            add_mandate(session, m["depositor"], m["certifier"])
    _load_demo_referentials(cli)
    _run_import(cli, directory / "identities.csv", "identities", import_identities)
    _run_import(cli, directory / "training_files.csv", "training files", import_training_files)
    with cli.transaction() as session:
        # Loading twice (make run after make run) must not re-send the same idFlux.
        pending = [f for f in manifest["files"]
                   if session.get(FluxReceipt, (f["emitter"], f["id_flux"])) is None]
    for f in manifest["files"]:
        if f not in pending:
            err.print(f"{f['file']}: already loaded")
    summaries = ingest_files(cli, [directory / f["file"] for f in pending], directory / "reports")
    for s in summaries:
        err.print(f"{Path(s['file']).name}: {s['status']} ({s['ok']} OK, {s['ko']} KO)")
    # What production's nightly `passport analytics refresh` does: without it the analytics
    # have nothing computed (deposits and imports then keep them current).
    from passport.analytics.refresh import full_refresh

    with cli.transaction() as session:
        counted = full_refresh(session, cli.settings.analytics_min_cell)
    err.print(f"analytics: {counted.files:,} training files → {counted.cells:,} cells")
    from passport.demo.load import seed_declarations

    with cli.transaction() as session:
        seeded = seed_declarations(session, cli.vault(), manifest.get("showcase", []))
    if seeded:
        err.print(f"declarations of every kind added for {seeded} showcase holder(s)")
    from passport.auth.keys import KeyRing
    from passport.demo.load import seed_share
    from passport.sharing.service import ShareContext

    context = ShareContext(cli.settings, cli.vault(), KeyRing(cli.settings))
    with cli.transaction() as session:
        url = seed_share(session, context, manifest.get("showcase", []))
    if url:
        (directory / "share-url.txt").write_text(url + "\n")
        err.print(f"a shared passport, no login needed: {url}", soft_wrap=True)
