"""`followerledger query` end to end versus a bare DuckDB Python one-liner on the same file.

Both are whole processes (interpreter start, imports, open, query, print), timed over several
alternating runs on a small warehouse built through the product's own import (into the
observations Delta table) and refresh.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.demo import write_generated_history
from followerledger.history_import import import_history
from followerledger.layout import WarehouseLayout
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SQL = "select account_key, day, followers from daily_followers order by account_key, day"
BARE = (
    "import duckdb, sys; connection = duckdb.connect(sys.argv[1], read_only=True); "
    "print(connection.sql(sys.argv[2]).fetchall())"
)


def _time(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def run(quick: bool = False) -> dict[str, float]:
    """Print and return the median wall time of each, and their ratio."""
    repeat = 3 if quick else 9
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        warehouse = root / "warehouse"
        layout = WarehouseLayout.at(warehouse)
        watchlist = load_watchlist(REPO / "watchlist.yaml")
        history = root / "history.csv"
        write_generated_history(watchlist, history, datetime.now(UTC))
        import_history(history, layout)
        assert delta_lake_of(layout).snapshot(OBSERVATIONS).rows > 0, "nothing imported"
        refresh(layout, watchlist)
        catalog = str(layout.catalog)
        environment = {**os.environ, "FOLLOWERLEDGER_WAREHOUSE": str(warehouse)}
        product_command = [str(BIN / "followerledger"), "query", SQL, "--format", "csv"]
        bare_command = [sys.executable, "-c", BARE, catalog, SQL]
        _time(product_command, environment)  # warm the file cache for both
        product, bare = [], []
        for _ in range(repeat):
            product.append(_time(product_command, environment))
            bare.append(_time(bare_command, environment))
    figures = {"query_cli_s": statistics.median(product), "bare_duckdb_s": statistics.median(bare)}
    figures["ratio"] = figures["query_cli_s"] / figures["bare_duckdb_s"]
    print(
        f"query end to end: `followerledger query` {figures['query_cli_s'] * 1000:.0f} ms, bare "
        f"DuckDB one-liner {figures['bare_duckdb_s'] * 1000:.0f} ms (medians of {repeat}) -> "
        f"{figures['ratio']:.2f}x (target <= 1.5x)"
    )
    return figures
