"""The `followerledger` command line.

Heavy imports (Prefect, the emulator, pyarrow) happen inside the commands that need them, so
`followerledger query` starts as fast as DuckDB itself allows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, ParamSpec

import click

from followerledger import __version__
from followerledger.errors import ConfigError
from followerledger.layout import DEMO_WAREHOUSE

if TYPE_CHECKING:
    from followerledger.prefect_server import PrefectServer

P = ParamSpec("P")


class _PlatformChoice(click.Choice[str]):
    """One of the registry's platform names, read when click first looks: importing the
    registry costs the sources' imports, which `query` must not pay."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from followerledger.sources.registry import names

        return names()

    @choices.setter
    def choices(self, _: object) -> None:
        """The names are the registry's; click's own assignment is ignored."""


PLATFORM_CHOICE = _PlatformChoice()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    first = message.strip().splitlines()
    click.echo(f"followerledger: error: {first[0] if first else 'failed'}", err=True)
    for extra in first[1:]:
        click.echo(f"followerledger: error: {extra}", err=True)
    sys.exit(code)


def _stoppable(command: Callable[P, None]) -> Callable[P, None]:
    """A command that SIGTERM and SIGINT stop within seconds, with one line and exit code
    128 + the signal's number (what a shell reports for a process a signal ended)."""
    from followerledger import stopping

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            with stopping.on_signals():
                command(*args, **kwargs)
        except stopping.Stopped as stop:
            click.echo(
                f"followerledger: stopped by {stop.name}; nothing it had not committed was kept",
                err=True,
            )
            sys.exit(128 + (stop.signum or signal.SIGTERM))

    return run


VERBOSE_OPTION = click.option(
    "--verbose",
    is_flag=True,
    help="Print every step and every Prefect flow and task run log line as a line of its "
    "own, instead of the live progress display (which only a terminal shows).",
)

#: Prefect's console log handler's level, read when Prefect sets its logging up (at import).
PREFECT_CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"


@contextlib.contextmanager
def _progress_shown(verbose: bool) -> Iterator[None]:
    """The command's progress while the block runs (`live_progress.shown`)."""
    from followerledger.live_progress import shown

    with shown(verbose):
        yield


def _quiet_prefect(verbose: bool) -> None:
    """Keep Prefect's per-run log lines off the console (warnings stay) unless `--verbose`:
    before Prefect is imported, or, if it is already, on its console handlers themselves."""
    if verbose:
        return
    os.environ.setdefault(PREFECT_CONSOLE_LEVEL, "WARNING")
    if "prefect.logging.handlers" in sys.modules:
        import logging

        from prefect.logging.handlers import PrefectConsoleHandler

        level = logging.getLevelName(os.environ[PREFECT_CONSOLE_LEVEL].upper())
        context = click.get_current_context(silent=True)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, PrefectConsoleHandler) and isinstance(level, int):
                if context is not None:
                    context.call_on_close(functools.partial(handler.setLevel, handler.level))
                handler.setLevel(max(handler.level, level))


class _Commands(click.Group):
    """The command group: a bad setting, wherever a command reads it, is one line, exit 2."""

    def invoke(self, ctx: click.Context) -> object:
        with _environment_kept():
            try:
                return super().invoke(ctx)
            except ConfigError as error:
                fail(str(error))


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """The process environment as it was before the block: what a command sets for itself
    (Prefect's console level, telemetry off, the server's URL) must not outlive it when it runs
    inside a longer-lived process (`main` called in a notebook, a test's CliRunner), where a
    worker started later would inherit it."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        for name, value in before.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="followerledger")
def main() -> None:
    """An honest, queryable history of brand follower counts.

    Settings come from the environment or a .env file (see docs/configuration.md).
    """
    # No telemetry from Prefect unless the user asked for it explicitly.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@main.command()
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_WAREHOUSE,
    show_default=True,
    help="The demo's own folder (FOLLOWERLEDGER_WAREHOUSE is not used). It is reset only "
    "if it holds nothing but rows of earlier demo runs.",
)
def demo(warehouse: Path) -> None:
    """Run the whole pipeline offline against the built-in emulator, in a warehouse of its own."""
    from followerledger.demo import DemoRefused, run_demo
    from followerledger.prefect_server import ServerError
    from followerledger.run_outcome import CountedNothing
    from followerledger.watchlist import WatchlistError

    try:
        result = run_demo(say=click.echo, warehouse=warehouse)
    except (DemoRefused, WatchlistError, ServerError) as error:
        fail(str(error))
    except CountedNothing as error:
        fail(str(error), code=1)
    click.echo(
        f"demo finished in {result.seconds:.1f} s; warehouse: {result.catalog}; "
        f"report: {result.report}"
    )


@main.command()
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=PLATFORM_CHOICE,
    help="Only this platform (repeatable). Default: every platform in the watchlist.",
)
@click.option("--run-id", default=None, help="Re-run (and replace) a given run id.")
@VERBOSE_OPTION
@_stoppable
def snapshot(platforms: tuple[str, ...], run_id: str | None, verbose: bool) -> None:
    """One snapshot run of the watchlist (a Prefect flow run)."""
    from followerledger.layout import WarehouseLayout
    from followerledger.prefect_server import ServerError, snapshot_server

    _quiet_prefect(verbose)
    # First of all: a temporary server starts while this process imports the rest.
    server = snapshot_server(WarehouseLayout.from_environment())

    from followerledger.lake import check_run_id
    from followerledger.secret_blocks import SecretBlockError, with_secret_blocks
    from followerledger.settings import load_settings
    from followerledger.sources import missing_config
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        watchlist = load_watchlist(settings.watchlist)
        if run_id is not None:
            check_run_id(run_id)
        if server.kind != "temporary":  # one started for this command: not asked, as before
            settings = with_secret_blocks(settings)
    except (WatchlistError, ValueError, SecretBlockError) as error:
        fail(str(error))
    chosen = [p for p in watchlist.platforms if not platforms or p in platforms]
    if not chosen:
        fail(f"{settings.watchlist} lists no accounts on {', '.join(platforms) or 'any platform'}")
    problems = missing_config(settings, chosen)
    if problems:
        fail("\n".join(problems))
    from followerledger.delta_lake import DeltaLakeError, check_lake

    try:
        check_lake(settings.layout)  # before Prefect starts: an unmigrated lake is a ConfigError
    except DeltaLakeError as error:
        fail(str(error))  # a store that cannot be reached

    from followerledger import progress
    from followerledger.flows.snapshot import snapshot_flow
    from followerledger.run_outcome import CountedNothing, partly_counted
    from followerledger.run_summary import credential_lines, of_run

    with _progress_shown(verbose):
        if server.kind == "temporary":
            progress.step("snapshot: starting Prefect's temporary server")
        try:
            server.wait_ready()
        except ServerError as error:
            fail(str(error))
        progress.step("snapshot: the flow run")
        state = snapshot_flow(platforms=list(platforms) or None, run_id=run_id, return_state=True)
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, DeltaLakeError):
        fail(str(outcome))  # a lake it cannot read or write: one line naming the setting
    if not isinstance(outcome, CountedNothing):
        outcome = state.result()  # any other failure is raised as before
    result = of_run(outcome.result if isinstance(outcome, CountedNothing) else outcome)
    for summary in result.platforms:
        statuses = ", ".join(f"{name} {count}" for name, count in summary.statuses.items())
        click.echo(
            f"{summary.platform}: {summary.accounts} accounts ({statuses}) "
            f"in {summary.requests} requests"
        )
        for line in credential_lines(summary):
            click.echo(line)
    for line in partly_counted(result.platforms):
        click.echo(f"followerledger: warning: {line}", err=True)
    if isinstance(outcome, CountedNothing):
        fail(str(outcome), code=1)
    click.echo(f"run {result.run_id} landed")


@main.command()
@click.option("--full", is_flag=True, help="Rebuild every mart from the whole lake.")
@VERBOSE_OPTION
@_stoppable
def refresh(full: bool, verbose: bool) -> None:
    """Bring the marts up to date (incrementally unless --full)."""
    from followerledger.configured_refresh import refresh_configured
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        watchlist = load_watchlist(settings.watchlist)
    except WatchlistError as error:
        fail(str(error))
    with _progress_shown(verbose):
        report = refresh_configured(settings, watchlist, full=full)
    click.echo(report.describe())


@main.command()
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=None,
    help="Vacuum retention: files the lake's log stopped naming (compacted originals, killed "
    "writers' files) stay this long (default FOLLOWERLEDGER_READER_GRACE_HOURS).",
)
@VERBOSE_OPTION
@_stoppable
def compact(grace_hours: float | None, verbose: bool) -> None:
    """Compact each closed day's lake files and vacuum; never changes query results."""
    from datetime import timedelta

    from followerledger.compaction import compact as run_compaction
    from followerledger.delta_lake import DeltaLakeError
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        watchlist = load_watchlist(settings.watchlist)
    except WatchlistError as error:
        fail(str(error))
    hours = settings.reader_grace_hours if grace_hours is None else grace_hours
    try:
        with _progress_shown(verbose):
            report = run_compaction(settings.layout, watchlist, grace=timedelta(hours=hours))
    except DeltaLakeError as error:
        fail(str(error))
    click.echo(report.describe())


@main.command()
@_stoppable
def migrate() -> None:
    """Turn the lake's run files into Delta tables (old files kept in a dated backup), then
    rebuild the marts and publish a catalog over the tables."""
    from followerledger.configured_refresh import refresh_configured
    from followerledger.migration import MigrationError
    from followerledger.migration import migrate as run_migration
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        report = run_migration(settings.layout)
    except MigrationError as error:
        fail(str(error))
    click.echo(report.describe())
    if report.nothing_to_migrate:
        return
    # The catalog published before named the old run files, and the build manifest reflected
    # them: rebuild both from the tables.
    try:
        watchlist = load_watchlist(settings.watchlist)
    except WatchlistError as error:
        fail(f"{error}; the lake is migrated: run `followerledger refresh --full` once it reads")
    click.echo(refresh_configured(settings, watchlist, full=True).describe())


def _prefect_server(port: int) -> PrefectServer:
    """The configured Prefect server or the local one, with alert settings checked first."""
    import os

    from followerledger.alerts import AlertConfigError, apprise_sender
    from followerledger.prefect_server import QUIET, ServerError, ensure_server
    from followerledger.secret_blocks import SecretBlockError, with_secret_blocks
    from followerledger.settings import load_settings
    from followerledger.sources import missing_config
    from followerledger.watchlist import WatchlistError, load_watchlist

    os.environ.update(QUIET)
    settings = load_settings()
    try:
        watchlist = load_watchlist(settings.watchlist)
        if settings.alert_urls is not None:
            apprise_sender(settings.alert_urls.get_secret_value())
        server = ensure_server(settings.layout, port)
        # The flows will read the server's Secret blocks for what the environment lacks.
        settings = with_secret_blocks(settings, server.api_url)
        if settings.alert_urls is not None:
            apprise_sender(settings.alert_urls.get_secret_value())
    except (WatchlistError, AlertConfigError, ServerError, SecretBlockError) as error:
        fail(str(error))
    # Not fatal here (the flows run with the worker's environment), but worth saying now.
    for problem in missing_config(settings, watchlist.platforms):
        click.echo(f"followerledger: warning: {problem}", err=True)
    if server.started:
        click.echo(f"started a local Prefect server: {server.api_url} (database in {server.home})")
    os.environ["PREFECT_API_URL"] = server.api_url
    return server


PORT_OPTION = click.option(
    "--port",
    default=4200,
    show_default=True,
    help="Port of the local Prefect server (used when PREFECT_API_URL is not set).",
)
PROJECT_OPTION = click.option(
    "--project",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    help="The folder holding prefect.yaml.",
)


@main.command()
@PORT_OPTION
@PROJECT_OPTION
def deploy(port: int, project: Path) -> None:
    """Deploy every flow in prefect.yaml to a Prefect server (a local one if none is set)."""
    from followerledger.deployments import DeploymentError
    from followerledger.deployments import deploy as run_deploy

    server = _prefect_server(port)
    try:
        specs = run_deploy(project, server)
    except DeploymentError as error:
        fail(str(error))
    pools = sorted({spec.work_pool for spec in specs if spec.work_pool})
    click.echo(f"deployed to {server.shown_api_url}:")
    for spec in specs:
        click.echo(f"  {spec.describe()}")
    click.echo("Start a worker (keep it running; it runs the flows from this folder):")
    # A URL with credentials is not printed: the worker reads PREFECT_API_URL as set here.
    api = "" if server.shown_api_url != server.api_url else f"PREFECT_API_URL={server.api_url} "
    for pool in pools:
        click.echo(f"  {api}DO_NOT_TRACK=1 .venv/bin/prefect worker start --pool {pool}")
    if not api:
        click.echo("  (in an environment where PREFECT_API_URL is set as it is here)")
    click.echo(f"Open the UI: {server.shown_ui_url}")
    if server.home is not None:
        click.echo(
            f"The local Prefect server runs in the background (pid {server.pid}; database and "
            f"log in {server.home}). Stop it with:\n"
            f"  PREFECT_HOME={server.home} .venv/bin/prefect server stop"
        )


@main.command()
@PORT_OPTION
@PROJECT_OPTION
def serve(port: int, project: Path) -> None:
    """Run every flow on its schedule from this one process (Prefect serve) until Ctrl-C."""
    from followerledger.deployments import DeploymentError
    from followerledger.deployments import serve as run_serve

    server = _prefect_server(port)
    try:
        run_serve(project.resolve(), server, say=click.echo)
    except DeploymentError as error:
        fail(str(error))
    except KeyboardInterrupt:
        pass
    click.echo(
        "serve stopped; the deployments' schedules are paused until the next serve or deploy"
    )


@main.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@VERBOSE_OPTION
@_stoppable
def import_(file: Path, verbose: bool) -> None:
    """Backfill historical observations from a CSV file (all rows or none)."""
    from followerledger import progress
    from followerledger.catalog import publish
    from followerledger.delta_lake import DeltaLakeError
    from followerledger.history_import import ImportFileError, import_history
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    # History is data whatever the watchlist says, so a broken one does not stop an import;
    # without one, rows for unwatched handles go uncounted.
    try:
        watchlist = load_watchlist(settings.watchlist)
    except WatchlistError:
        watchlist = None
    try:
        with _progress_shown(verbose):
            report = import_history(file, settings.layout, watchlist=watchlist)
            progress.step("import: publishing the catalog")
            publish(settings.layout, watchlist)
    except (ImportFileError, DeltaLakeError) as error:
        fail(str(error))
    click.echo(
        f"imported {report.rows} rows from {file} as {report.run_id} "
        f"({len(report.partitions)} partitions, observations table version {report.version}); "
        "run `followerledger refresh` to update the marts"
    )
    warning = report.unwatched_warning()
    if warning is not None:
        click.echo(f"followerledger: warning: {warning}", err=True)


@main.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--as-of",
    "as_of",
    metavar="VERSION|TIME",
    default=None,
    help="Read the lake's Delta tables (the observations and run_log views) as they were at "
    "this version of the observations table, or at this ISO 8601 time (UTC unless it has an "
    "offset); run_log as of that version's commit. The marts stay current.",
)
def query(sql: str, fmt: str, as_of: str | None) -> None:
    """One read-only SQL statement against the warehouse; reads only its marts and lake."""
    import duckdb

    from followerledger.layout import WarehouseLayout
    from followerledger.query import (
        QueryRefused,
        WarehouseMissing,
        check_read_only,
        render,
        run_query,
    )

    layout = WarehouseLayout.from_environment()
    catalog = layout.catalog
    # A local lake is a readable folder; an s3:// one is allowed by `open_warehouse` itself.
    readable = [layout.marts, layout.local_lake] if layout.lake_is_local else [layout.marts]
    views = None
    try:
        if as_of is not None:
            # Only now deltalake is imported: a query without --as-of never pays for it.
            from followerledger.lake_as_of import AsOfError, lake_views_as_of, parse_as_of

            try:
                moment = parse_as_of(as_of)
                check_read_only(sql)
                views = lake_views_as_of(layout, moment)
            except AsOfError as error:
                fail(f"--as-of {as_of.strip()[:40]!r}: {error}")
        columns, rows = run_query(catalog, sql, readable, layout.lake_uri, views)
    except (QueryRefused, WarehouseMissing) as error:
        fail(str(error))
    except duckdb.Error as error:
        # DuckDB's whole message: its "Did you mean" hints and the caret under a syntax error.
        click.echo(f"followerledger: error: {str(error).strip()}", err=True)
        sys.exit(1)
    click.echo(render(columns, rows, fmt))  # type: ignore[arg-type]


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the report (default <warehouse>/report.html).",
)
@click.option(
    "--tz",
    "zone_name",
    default="UTC",
    show_default=True,
    help="Time zone for the times shown (an IANA name); storage and days stay UTC.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="How many days of history the report shows, up to the latest count.",
)
def report(out: Path | None, zone_name: str, days: int) -> None:
    """Write a self-contained HTML report (charts and tables) of the warehouse."""
    from datetime import UTC, datetime

    from followerledger.query import WarehouseMissing
    from followerledger.report import parse_zone, write_report
    from followerledger.settings import load_settings

    try:
        zone = parse_zone(zone_name)
    except ValueError as error:
        fail(f"--tz: {error}")
    settings = load_settings()
    target = out or settings.layout.report
    try:
        written = write_report(
            settings.layout.catalog,
            target,
            now=datetime.now(UTC),
            zone=zone,
            days=days,
            lake=settings.layout.lake_uri,
        )
    except WarehouseMissing as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write the report to {target}: {error.strerror or error}")
    click.echo(
        f"report: {written.path} ({written.size / 1e6:.1f} MB, {written.accounts} accounts, "
        f"last {days} days, written in {written.seconds:.1f} s)"
    )


@main.group()
def watchlist() -> None:
    """Validate and edit the watchlist (comments are kept)."""


@watchlist.command(name="check")
def watchlist_check() -> None:
    """Validate the watchlist; print one line per problem."""
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        result = load_watchlist(settings.watchlist)
    except WatchlistError as error:
        fail(str(error))
    for note in result.notes:
        click.echo(f"followerledger: note: {note}")
    click.echo(
        f"{settings.watchlist}: OK — {len(result.brands)} brands, "
        f"{len(result.accounts)} accounts, {len(result.landscapes)} landscapes"
    )


@watchlist.command(name="list")
def watchlist_list() -> None:
    """List every watched account."""
    from followerledger.query import render
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, iter_rows, load_watchlist

    settings = load_settings()
    try:
        result = load_watchlist(settings.watchlist)
    except WatchlistError as error:
        fail(str(error))
    click.echo(render(["brand", "platform", "handle"], list(iter_rows(result)), "table"))
    for name, brands in result.landscapes.items():
        click.echo(f"landscape {name}: {', '.join(brands)}")


@watchlist.command(name="add")
@click.argument("brand")
@click.argument("platform", type=PLATFORM_CHOICE)
@click.argument("handle")
def watchlist_add(brand: str, platform: str, handle: str) -> None:
    """Add HANDLE on PLATFORM under BRAND (created if new).

    HANDLE may be written as people have it (`@Apple`, a profile link); the canonical handle
    is what the file stores."""
    from followerledger.handles import read_handle
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, add_account

    settings = load_settings()
    try:
        add_account(settings.watchlist, brand, platform, handle)
    except WatchlistError as error:
        fail(str(error))
    stored = read_handle(platform, handle)
    written = f" (written as {handle!r})" if stored != handle else ""
    click.echo(f"added {platform} {stored} to {brand}{written}")


@watchlist.command(name="remove")
@click.argument("platform", type=PLATFORM_CHOICE)
@click.argument("handle")
def watchlist_remove(platform: str, handle: str) -> None:
    """Remove HANDLE on PLATFORM (its history stays in the lake)."""
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, remove_account

    settings = load_settings()
    try:
        remove_account(settings.watchlist, platform, handle)
    except WatchlistError as error:
        fail(str(error))
    click.echo(f"removed {platform} {handle}; its history stays in the lake")


@main.command()
@click.option("--port", default=8787, show_default=True, help="Port on 127.0.0.1 (0: any).")
def emulator(port: int) -> None:
    """Serve the platform emulator on 127.0.0.1 until Ctrl-C.

    It knows the ids of the watchlist's accounts from the start, so runs that already
    resolved them keep reading by id across emulator restarts.
    """
    from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    state = EmulatorState()
    try:
        watchlist = load_watchlist(load_settings().watchlist)
    except WatchlistError:
        watchlist = None
    if watchlist is not None:
        state.preload_watchlist(watchlist)
    try:
        server = EmulatorServer(state, port=port)
    except OSError as error:
        fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror}; choose another --port")
    click.echo(f"emulator listening on {server.url}; point followerledger at it with:")
    for name, value in emulator_environment(server.url).items():
        click.echo(f"  export {name}={value}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
