"""The Prefect server deployments talk to: the configured one, or a local one we start.

`PREFECT_API_URL` (from the environment or the active Prefect profile) wins. Without it a
local server is started in the background, on 127.0.0.1, with analytics off and its home
(`PREFECT_HOME`: the SQLite database `prefect.db`, `server.log`, `server.pid`) under
`<warehouse>/_prefect/`. Its pid is written where `prefect server stop` looks for it, so
`PREFECT_HOME=<warehouse>/_prefect prefect server stop` stops it. The next `deploy` or
`serve` finds it running and reuses it.

`own_server` is the other kind: a temporary server for one block of this process (the
demo's), which no configured server or profile can replace. `snapshot_server` finds the
server of one `snapshot` command: the configured one, else the local one above if it runs
(never started for a snapshot), else the temporary server Prefect itself would start for a
flow run without a server (`ephemeral_server`), started first thing, in parallel with the
command's imports, without importing `prefect.server` in this process, and tied to its life
even when that is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final

import httpx
import requests

from followerledger import stopping
from followerledger.layout import WarehouseLayout
from followerledger.urls import shown_url

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
    (home / PORT_FILE).write_text(str(port))  # so that `snapshot` finds it (`local_server`)
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


#: Prefect's exit code for a temporary server whose port was taken meanwhile.
_PORT_TAKEN: Final = 3
#: How often a wait for a starting server asks its health (seconds).
_HEALTH_POLL: Final = 0.1
#: Where `_start` notes the local server's port, beside its `server.pid`.
PORT_FILE: Final = "server.port"
#: Files in the working folder from which Prefect may read its API URL or ephemeral mode
#: (besides the environment and the active profile); if one mentions Prefect, Prefect decides.
_PREFECT_SETTING_FILES: Final = (".env", "prefect.toml", "pyproject.toml")


class TemporaryServer:
    """Prefect's temporary API server for one command, started as a plain subprocess with
    Prefect 3.9's own command line (`SubprocessASGIServer._run_uvicorn_command`) but without
    importing `prefect.server` here (~2.8 s of CPU), so that it starts before this process's
    own imports and in parallel with them. Its database is Prefect's usual persisted file
    (`PREFECT_HOME/prefect.db`): only the first start migrates it. It dies with this process
    (`die_with_parent`, so also after a `kill -9`) and is stopped at exit, after Prefect's
    clients sent their last logs and events (their exit hooks run before `atexit`'s)."""

    def __init__(self, timeout: float = OWN_SERVER_TIMEOUT) -> None:
        self.timeout = timeout
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._healthy = False

    @property
    def api_url(self) -> str:
        """The API URL this process's Prefect clients use."""
        return f"http://{HOST}:{self.port}/api"

    def start(self) -> None:
        """Start the server (from the main thread: `die_with_parent`) and point this
        process's Prefect clients at it (`PREFECT_API_URL` in `os.environ`); no wait."""
        environment = {
            **os.environ,
            **QUIET,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        environment.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(_prefect_location()),
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
            stdin=subprocess.DEVNULL,
            env=environment,
            preexec_fn=die_with_parent(),  # only prctl, looked up before the fork
        )
        os.environ["PREFECT_API_URL"] = self.api_url
        atexit.register(self.stop)

    def wait_healthy(self) -> None:
        """Wait until the server answers its health check; ServerError if it exits or takes
        longer than `timeout`, `stopping.Stopped` as soon as a stop signal arrives."""
        deadline = time.monotonic() + self.timeout
        while not self._healthy:
            process = self.process
            if process is None:
                raise ServerError("Prefect's temporary server was not started")
            code = process.poll()
            if code == _PORT_TAKEN:  # another program took the port between probe and bind
                self.port = _free_port()
                self.start()
                _refresh_prefect_settings()
                continue
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = f"exited with code {code}" if code is not None else "did not answer"
                raise ServerError(
                    f"Prefect's temporary server {why}: set PREFECT_API_URL to a running "
                    "Prefect server (`make deploy` starts one), or run again"
                )
            self._healthy = healthy(self.api_url, timeout=1.0)
            if not self._healthy:
                stopping.sleep(_HEALTH_POLL)

    def stop(self) -> None:
        """Stop the server (at once, and again at exit: harmless)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prefect_location() -> Path:
    """The folder holding the `prefect` package, found without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise ServerError("Prefect is not installed in this environment: run `make install`")
    return Path(spec.origin).parent.parent


def _refresh_prefect_settings() -> None:
    """Make an already imported Prefect read `PREFECT_API_URL` again (its settings are read
    once, at import)."""
    context = sys.modules.get("prefect.context")
    if context is not None:
        context.refresh_global_settings_context()


def _maybe_configured_elsewhere() -> bool:
    """Whether a source other than the environment might set Prefect's API URL or turn its
    ephemeral mode off: the active profile, or a settings file in the working folder that
    mentions Prefect. Read as text, cheaply: only Prefect itself can say for sure."""
    for name in _PREFECT_SETTING_FILES:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = Path(name).read_text(encoding="utf-8").lower()
            if "prefect_" in text or "[api]" in text or "tool.prefect" in text:
                return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = profiles.expanduser().read_text(encoding="utf-8").upper()
        return "PREFECT_API_URL" in text or "PREFECT_SERVER_EPHEMERAL" in text
    return False


def _ephemeral_enabled_in_environment() -> bool:
    value = os.environ.get("PREFECT_SERVER_EPHEMERAL_ENABLED", "true").strip().lower()
    return value not in ("0", "false", "no", "off")


def _startup_timeout() -> float:
    """Prefect's 20 s default is too short on a busy machine migrating a new database."""
    try:
        asked = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "0"))
    except ValueError:
        asked = 0.0
    return max(float(OWN_SERVER_TIMEOUT), asked)


def _needs_temporary_server() -> bool:
    """Whether no API URL is configured and Prefect's ephemeral mode is on, decided without
    importing `prefect.server`: Prefect itself (1.6 s of CPU to import) is asked only when it
    is imported already or when a profile or settings file might configure it; otherwise the
    environment says."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        return False
    if "prefect" in sys.modules or _maybe_configured_elsewhere():
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        return not settings.api.url and settings.server.ephemeral.enabled
    return _ephemeral_enabled_in_environment()


def ephemeral_server() -> TemporaryServer | None:
    """Start, from the calling (main) thread, the temporary server Prefect's clients would
    start when no API URL is configured, tied to this process's life (`TemporaryServer`),
    and point this process's clients at it; no wait (`TemporaryServer.wait_healthy`). None,
    and nothing of `prefect.server` imported, when an API URL is configured or Prefect's
    ephemeral mode is off (`PREFECT_SERVER_EPHEMERAL_ENABLED=false`: Prefect then refuses,
    as before)."""
    if not _needs_temporary_server():
        return None
    server = TemporaryServer(timeout=_startup_timeout())
    server.start()
    _refresh_prefect_settings()
    return server


def local_server(layout: WarehouseLayout) -> PrefectServer | None:
    """The local server `deploy` or `serve` started (`<warehouse>/_prefect/server.pid`), if
    it is alive and healthy; never started here: a one-shot command leaving a daemon behind
    would surprise."""
    home = layout.prefect_home
    pid = _running_pid(home)
    if pid is None:
        return None
    try:
        port = int((home / PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        port = DEFAULT_PORT  # a server started before its port was noted: deploy's default
    api_url = f"http://{HOST}:{port}/api"
    return PrefectServer(api_url, home, pid) if healthy(api_url) else None


@dataclasses.dataclass(frozen=True, slots=True)
class SnapshotServer:
    """The Prefect server a `snapshot` command reports to, and how it was found: `configured`
    (`PREFECT_API_URL`, a profile; or ephemeral mode off, when Prefect refuses as before),
    `local` (the one `make deploy` or `serve` started) or `temporary` (started for this
    command: `server`)."""

    kind: str
    server: TemporaryServer | None = None

    def wait_ready(self) -> None:
        """Wait for a temporary server to answer (nothing to wait for otherwise)."""
        if self.server is not None:
            self.server.wait_healthy()


def snapshot_server(layout: WarehouseLayout) -> SnapshotServer:
    """The server for one `snapshot`, found or started before the command's heavy imports:
    the configured one; else the local one of `make deploy` or `serve` when it runs and
    answers (this process's `PREFECT_API_URL` then points at it); else Prefect's temporary
    server, started now (`ephemeral_server`) so that it boots while this process imports the
    flow. Nothing of `prefect.server` is imported here."""
    if not _needs_temporary_server():
        return SnapshotServer("configured")
    local = local_server(layout)
    if local is not None:
        os.environ["PREFECT_API_URL"] = local.api_url
        _refresh_prefect_settings()
        return SnapshotServer("local")
    server = ephemeral_server()
    return (
        SnapshotServer("temporary", server) if server is not None else SnapshotServer("configured")
    )
