"""The snapshot command's temporary Prefect server, waited for: a stop signal ends the wait at
once, and a server process that exits is one clear error (real processes, no Prefect)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from followerledger import stopping
from followerledger.prefect_server import ServerError, TemporaryServer


@pytest.fixture
def stop_cleared() -> Iterator[None]:
    stopping.STOP.clear()
    yield
    stopping.STOP.clear()


def test_a_stop_signal_ends_the_wait_for_a_server_that_never_answers(stop_cleared: None) -> None:
    server = TemporaryServer(timeout=600)
    # A process that lives but never listens: the server still booting.
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        threading.Timer(0.5, stopping.STOP.set).start()  # what the signal handler does
        with pytest.raises(stopping.Stopped):
            server.wait_healthy()
    finally:
        server.stop()
    assert server.process is None


def test_a_server_process_that_exits_is_one_line_naming_its_exit_code(stop_cleared: None) -> None:
    server = TemporaryServer(timeout=600)
    server.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    with pytest.raises(ServerError) as raised:
        server.wait_healthy()
    assert "exited with code 7" in str(raised.value)
    assert "PREFECT_API_URL" in str(raised.value)  # and what to do
    assert "\n" not in str(raised.value)
