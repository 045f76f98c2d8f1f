"""The Prefect server deployments talk to: the configured one, or a local one we start.

`PREFECT_API_URL` (from the environment or the active Prefect profile) wins. Without it a
local server is started in the background, on 127.0.0.1, with analytics off and its home
(`PREFECT_HOME`: the SQLite database `prefect.db`, `server.log`, `server.pid`) under
`<warehouse>/_prefect/`. Its pid is written where `prefect server stop` looks for it, so
`PREFECT_HOME=<warehouse>/_prefect prefect server stop` stops it. The next `deploy` or
`serve` finds it running and reuses it.

`own_server` is the other kind: a temporary server for one block of this process (the
demo's), which no configured server or profile can replace. `ephemeral_server` starts the
temporary server Prefect itself would start for a flow run without a server (`snapshot`
with no `PREFECT_API_URL`), so that it dies with this process, even when that is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import requests

from followerledger.layout import WarehouseLayout
from followerledger.urls import shown_url

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4200

#: Set for every Prefect process we start: no telemetry leaves the machine.
QUIET: Final = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

#: Retention defaults for a local server (a value already in the environment wins): flow
#: runs, their logs and artifacts are deleted 30 days after they end (events: Prefect's
#: default, 7 days).
RETENTION: Final = {
    "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(30 * 86400),
}


#: How long a temporary server may take to start (a fresh SQLite database is migrated first).
OWN_SERVER_TIMEOUT: Final = 180


class ServerError(RuntimeError):
    """The Prefect server cannot be reached or started; the message says what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class PrefectServer:
    """Where the Prefect API is, and whether it is our local server."""

    api_url: str
    home: Path | None = None
    pid: int | None = None
    started: bool = False

    @property
    def ui_url(self) -> str:
        """The UI's address (the API URL without its `/api`)."""
        return self.api_url.removesuffix("/").removesuffix("/api")

    @property
    def shown_api_url(self) -> str:
        """The API URL as it may be printed (no credentials: `followerledger.urls`)."""
        return shown_url(self.api_url)

    @property
    def shown_ui_url(self) -> str:
        """The UI's address as it may be printed."""
        return self.shown_api_url.removesuffix("/").removesuffix("/api")


def prefect_command() -> str:
    """The `prefect` executable installed next to this Python (the project's .venv)."""
    beside = Path(sys.executable).parent / "prefect"
    return str(beside) if beside.exists() else shutil.which("prefect") or "prefect"


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, if set."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def healthy(api_url: str, timeout: float = 2.0, *, authenticated: bool = False) -> bool:
    """Whether a Prefect API answers its health check (`authenticated`: an answer refusing
    us without credentials counts, as Prefect Cloud's does; the Prefect CLI has them)."""
    try:
        response = requests.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
    except requests.RequestException:
        return False
    return response.ok or (authenticated and response.status_code in (401, 403))


def client_environment(api_url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a Prefect client process talking to `api_url`."""
    return {**(os.environ if base is None else base), **QUIET, "PREFECT_API_URL": api_url}


def ensure_server(
    layout: WarehouseLayout, port: int = DEFAULT_PORT, *, startup_timeout: float = 180.0
) -> PrefectServer:
    """The configured Prefect server, or the local one (started now if it is not running)."""
    configured = configured_api_url()
    if configured:
        if not healthy(configured, timeout=10, authenticated=True):
            raise ServerError(
                f"PREFECT_API_URL={shown_url(configured)} does not answer: start that server, "
                "or unset PREFECT_API_URL to use a local one"
            )
        return PrefectServer(configured)
    home = layout.prefect_home
    api_url = f"http://{HOST}:{port}/api"
    pid = _running_pid(home)
    if pid is not None and healthy(api_url):
        return PrefectServer(api_url, home, pid)
    if pid is not None:
        raise ServerError(
            f"a local Prefect server (pid {pid}) is running from {home} but not on port "
            f"{port}: pass the port it uses, or stop it with "
            f"`PREFECT_HOME={home} prefect server stop`"
        )
    if not _port_free(port):
        raise ServerError(
            f"{HOST}:{port} is in use by another program: pass another --port, or set "
            "PREFECT_API_URL to the Prefect server listening there"
        )
    return _start(home, port, api_url, startup_timeout)


def _running_pid(home: Path) -> int | None:
    """The pid in `server.pid` if that process is alive (a stale file is removed)."""
    path = home / "server.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError):
        return None
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    return pid


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _start(home: Path, port: int, api_url: str, timeout: float) -> PrefectServer:
    home.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **QUIET, "PREFECT_HOME": str(home)}
    environment.pop("PREFECT_API_URL", None)
    for name, value in RETENTION.items():
        environment.setdefault(name, value)
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [prefect_command(), "server", "start", "--host", HOST, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=home,
            start_new_session=True,  # it outlives this command, and ignores its Ctrl-C
        )
    (home / "server.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while not healthy(api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
            (home / "server.pid").unlink(missing_ok=True)
            raise ServerError(
                f"the local Prefect server did not start on {HOST}:{port}; see {log_path}"
            )
        time.sleep(0.5)
    return PrefectServer(api_url, home, process.pid, started=True)


@contextlib.contextmanager
def own_server(home: Path) -> Iterator[str]:
    """Start a temporary Prefect server with its database in `home`; yield its API URL.

    For the block, every Prefect client of this process talks to it and reads settings built
    here, not the environment's, a profile's or an enclosing Prefect settings context's
    `PREFECT_API_URL`, credentials, home or database. On leaving, the logs and events still
    queued are sent and the server is stopped. Raises ServerError if it does not start.
    """
    from prefect.context import SettingsContext
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import Profile, Settings

    home.mkdir(parents=True, exist_ok=True)
    # A port of its own: without one Prefect hands out its process-wide default server,
    # which the test harness, for one, replaces with its own.
    server = SubprocessASGIServer(port=_free_port())

    def settings() -> Settings:
        # Init values outrank every other source of Prefect settings; the server process
        # gets them as environment variables, which outrank the ones it inherits.
        return Settings(
            home=home,
            profiles_path=home / "profiles.toml",
            api={"url": server.api_url, "key": None, "auth_string": None},
            server={
                "analytics_enabled": False,
                "database": {"connection_url": f"sqlite+aiosqlite:///{home / 'prefect.db'}"},
            },
        )

    try:
        with SettingsContext(profile=Profile(name="demo"), settings=settings()):
            server.start(timeout=OWN_SERVER_TIMEOUT)
    except (RuntimeError, httpx.HTTPError) as error:
        server.stop()
        raise ServerError(
            f"the temporary Prefect server did not start ({str(error).splitlines()[0]}); "
            f"its home is {home}: see the server's output above, delete that folder if its "
            "database is damaged, and run again"
        ) from None
    try:
        # Built again: the server moves to another port if its first one was taken.
        with SettingsContext(profile=Profile(name="demo"), settings=settings()):
            yield server.api_url
            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


#: prctl(2) option: the signal a process gets when the thread that started it exits.
_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` making the child get SIGTERM when this process dies, however it dies
    (Linux `prctl(PR_SET_PDEATHSIG)`); None where that does not exist.

    The "parent" is the *thread* that starts the child: start it from the main thread."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before fork: the child only makes the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def ephemeral_server() -> SubprocessASGIServer | None:
    """Start, from the calling (main) thread, the temporary server Prefect's clients would
    start when no API URL is configured, tied to this process's life (`die_with_parent`): a
    `kill -9`'d `snapshot` leaves no server behind. Prefect stops it at exit, as it would its
    own. Raises ServerError if it does not start. None (nothing started) when an API URL is
    configured or Prefect's ephemeral mode is off (`PREFECT_SERVER_EPHEMERAL_ENABLED=false`:
    Prefect then refuses, as before).

    Prefect's clients ask `SubprocessASGIServer()` (no port) for that server; the instance
    registered first for no port is the one they all get.
    """
    from prefect.server.api import server as prefect_server
    from prefect.settings import get_current_settings

    if configured_api_url() is not None or not get_current_settings().server.ephemeral.enabled:
        return None
    preexec = die_with_parent()

    class _TiedServer(prefect_server.SubprocessASGIServer):
        # Prefect 3.9's own command line and environment for its temporary server
        # (`SubprocessASGIServer._run_uvicorn_command`), plus the preexec_fn it has no hook for.
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            import prefect

            environment = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
            }
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env=environment,
                preexec_fn=preexec,  # safe beside threads: it only calls prctl, looked up before
            )

    server = _TiedServer()
    # Prefect's 20 s default is too short on a busy machine migrating a new database.
    timeout = max(
        OWN_SERVER_TIMEOUT, get_current_settings().server.ephemeral.startup_timeout_seconds
    )
    try:
        server.start(timeout=timeout)
    except (RuntimeError, httpx.HTTPError) as error:
        server.stop()
        raise ServerError(
            f"Prefect's temporary server did not start ({str(error).splitlines()[0]}): set "
            "PREFECT_API_URL to a running Prefect server (`make deploy` starts one), or run again"
        ) from None
    return server
