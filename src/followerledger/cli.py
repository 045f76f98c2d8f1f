"""The `followerledger` command line.

Heavy imports (Prefect, the emulator, pyarrow) happen inside the commands that need them, so
`followerledger query` starts as fast as DuckDB itself allows.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import NoReturn

import click

from followerledger import __version__

PLATFORM_CHOICE = click.Choice(["x", "bluesky", "mastodon", "youtube"])


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    first = message.strip().splitlines()
    click.echo(f"followerledger: error: {first[0] if first else 'failed'}", err=True)
    for extra in first[1:]:
        click.echo(f"followerledger: error: {extra}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(__version__, prog_name="followerledger")
def main() -> None:
    """An honest, queryable history of brand follower counts.

    Settings come from the environment or a .env file (see README, "Configuration").
    """


@main.command()
def demo() -> None:
    """Run the whole pipeline offline against the built-in emulator."""
    from followerledger.demo import DemoRefused, run_demo
    from followerledger.watchlist import WatchlistError

    try:
        result = run_demo(say=click.echo)
    except (DemoRefused, WatchlistError) as error:
        fail(str(error))
    click.echo(f"demo finished in {result.seconds:.1f} s; warehouse: {result.catalog}")


@main.command()
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=PLATFORM_CHOICE,
    help="Only this platform (repeatable). Default: every platform in the watchlist.",
)
@click.option("--run-id", default=None, help="Re-run (and replace) a given run id.")
def snapshot(platforms: tuple[str, ...], run_id: str | None) -> None:
    """One snapshot run of the watchlist (a Prefect flow run)."""
    from followerledger.lake import check_run_id
    from followerledger.settings import load_settings
    from followerledger.sources import missing_config
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    try:
        watchlist = load_watchlist(settings.watchlist)
        if run_id is not None:
            check_run_id(run_id)
    except (WatchlistError, ValueError) as error:
        fail(str(error))
    chosen = [p for p in watchlist.platforms if not platforms or p in platforms]
    if not chosen:
        fail(f"{settings.watchlist} lists no accounts on {', '.join(platforms) or 'any platform'}")
    problems = missing_config(settings, chosen)
    if problems:
        fail("\n".join(problems))

    from followerledger.flows.snapshot import snapshot_flow

    result = snapshot_flow(platforms=list(platforms) or None, run_id=run_id)
    for summary in result["platforms"]:
        statuses = ", ".join(f"{name} {count}" for name, count in summary["statuses"].items())
        click.echo(
            f"{summary['platform']}: {summary['accounts']} accounts ({statuses}) "
            f"in {summary['requests']} requests"
        )
    click.echo(f"run {result['run_id']} landed")


@main.command()
@click.option("--full", is_flag=True, help="Rebuild every mart from the whole lake.")
def refresh(full: bool) -> None:
    """Bring the marts up to date (incrementally unless --full)."""
    from followerledger.lake import Lake
    from followerledger.refresh import refresh as run_refresh
    from followerledger.settings import SettingsError, load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    try:
        settings = load_settings()
        watchlist = load_watchlist(settings.watchlist)
    except (SettingsError, WatchlistError) as error:
        fail(str(error))
    report = run_refresh(
        settings.warehouse,
        Lake(settings.lake),
        watchlist,
        full=full,
        parameters=settings.refresh_parameters,
    )
    kind = "full rebuild" if report.full else "incremental"
    click.echo(
        f"refresh ({kind}): {report.new_files} new lake files, {report.days_recomputed} "
        f"days recomputed, {report.files_written} mart files written "
        f"in {report.seconds:.2f} s"
    )


@main.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def import_(file: Path) -> None:
    """Backfill historical observations from a CSV file (all rows or none)."""
    from followerledger.catalog import publish
    from followerledger.history_import import ImportFileError, import_history
    from followerledger.lake import Lake
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, load_watchlist

    settings = load_settings()
    lake = Lake(settings.lake)
    try:
        report = import_history(file, lake)
    except ImportFileError as error:
        fail(str(error))
    try:
        watchlist = load_watchlist(settings.watchlist)
    except WatchlistError:
        watchlist = None
    publish(settings.warehouse, lake, watchlist)
    click.echo(
        f"imported {report.rows} rows from {file} as {report.run_id} "
        f"({len(report.files)} files); run `followerledger refresh` to update the marts"
    )


@main.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def query(sql: str, fmt: str) -> None:
    """Read-only SQL against the warehouse."""
    import duckdb

    from followerledger.query import QueryRefused, WarehouseMissing, render, run_query
    from followerledger.settings import load_settings

    settings = load_settings()
    try:
        columns, rows = run_query(settings.catalog_path, sql)
    except (QueryRefused, WarehouseMissing) as error:
        fail(str(error))
    except duckdb.Error as error:
        fail(str(error).strip().splitlines()[0], code=1)
    click.echo(render(columns, rows, fmt))  # type: ignore[arg-type]


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
    """Add HANDLE on PLATFORM under BRAND (created if new)."""
    from followerledger.settings import load_settings
    from followerledger.watchlist import WatchlistError, add_account

    settings = load_settings()
    try:
        add_account(settings.watchlist, brand, platform, handle)
    except WatchlistError as error:
        fail(str(error))
    click.echo(f"added {platform} {handle} to {brand}")


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
    """Serve the platform emulator on 127.0.0.1 until Ctrl-C."""
    from followerledger.emulator import EmulatorServer, emulator_environment

    try:
        server = EmulatorServer(port=port)
    except OSError as error:
        fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror}; choose another --port")
    click.echo(f"emulator listening on {server.url}; point followerledger at it with:")
    for name, value in emulator_environment(server.url).items():
        click.echo(f"  export {name}={value}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
