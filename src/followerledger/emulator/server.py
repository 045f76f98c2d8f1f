"""Run the emulator on 127.0.0.1: in a background thread (tests, demo) or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from followerledger.emulator.app import create_app
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.threads_api import THREADS_VERSION
from followerledger.emulator.world import instagram_caller_id
from followerledger.sources.meta_graph import GRAPH_VERSION

HOST = "127.0.0.1"


class EmulatorServer:
    """The emulator on a loopback port; use as a context manager or call start()/stop()."""

    def __init__(self, state: EmulatorState | None = None, port: int = 0) -> None:
        self.state = state or EmulatorState()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, headers and body go out as two
        # segments and Nagle plus delayed ACKs add ~40 ms to every answer.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((HOST, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL every platform's routes live under."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name=f"emulator:{self.port}",
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (Ctrl-C)."""
        self._server.run(sockets=[self._socket])


def emulator_environment(url: str) -> dict[str, str]:
    """Settings that point every source at an emulator, with placeholder credentials (and
    the emulator's own Instagram account to call Business Discovery through)."""
    return {
        "FOLLOWERLEDGER_X_API_URL": url,
        "FOLLOWERLEDGER_BLUESKY_API_URL": url,
        "FOLLOWERLEDGER_MASTODON_API_URL": url,
        "FOLLOWERLEDGER_YOUTUBE_API_URL": f"{url}/youtube/v3",
        "FOLLOWERLEDGER_GRAPH_API_URL": f"{url}/{GRAPH_VERSION}",
        "FOLLOWERLEDGER_THREADS_API_URL": f"{url}/{THREADS_VERSION}",
        "FOLLOWERLEDGER_TWITCH_API_URL": f"{url}/helix",
        "FOLLOWERLEDGER_TWITCH_AUTH_URL": f"{url}/oauth2",
        "X_BEARER_TOKEN": "emulator-bearer-token",
        "YOUTUBE_API_KEY": "emulator-api-key",
        "META_ACCESS_TOKEN": "emulator-meta-access-token",
        "FOLLOWERLEDGER_INSTAGRAM_USER_ID": instagram_caller_id(),
        "THREADS_ACCESS_TOKEN": "emulator-threads-access-token",
        "TWITCH_CLIENT_ID": "emulator-client-id",
        "TWITCH_CLIENT_SECRET": "emulator-client-secret",
    }
