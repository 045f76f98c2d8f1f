"""An analyst's DuckDB session in another process, as a test helper."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

from tests.closing import ClosedOnExit

DUCKDB_CLI = Path(sys.executable).parent / "duckdb"


class AnalystSession(ClosedOnExit):
    """`duckdb -readonly FILE` (the PyPI DuckDB CLI) kept open, answering queries as CSV."""

    def __init__(self, catalog: Path) -> None:
        self.process = subprocess.Popen(
            [str(DUCKDB_CLI), "-readonly", "-csv", "-noheader", str(catalog)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def ask(self, sql: str, timeout: float = 30) -> str:
        """One single-value query; its value as text (raises on an error or a hang)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdin.write(sql.rstrip(";") + ";\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout, self.process.stderr], [], [], timeout)
        if self.process.stderr in ready:
            raise AssertionError(f"analyst query failed: {self.process.stderr.readline()}")
        if not ready:
            raise AssertionError(f"analyst query did not answer within {timeout} s: {sql}")
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
