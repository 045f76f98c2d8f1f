"""One careful HTTP client per platform: timeouts, backoff, and rate limits honoured.

Every request goes through `ApiClient.get` (or `ApiClient.post`, for APIs that batch calls
in a POST such as Meta's Graph API), which
- waits before sending when the platform said the budget is spent, until its reset;
- retries connection errors, timeouts, 5xx answers and broken 2xx answers (a body that is not
  JSON, such as one cut short, or JSON not of the documented `shape`) with exponential
  backoff and jitter;
- on 429, waits until the reset the platform announced (its own headers, else Retry-After);
  such waits do not use up the attempts of the other failures, and are bounded by their own
  count of `attempts`; a platform whose throttle answers are not 429s (Meta's error codes in
  a 400 or 403 body) says which they are with a `ThrottleCheck`, and they are waited like 429s,
  by every thread of the client (the wait is stored as a spent budget);
- gives up with `RateLimited` when a wait would exceed the configured maximum, and with
  `RequestFailed` when either count of attempts is spent;
- never lets a secret reach an exception message (secrets are redacted from every text);
- says at WARNING, on its logger, when it waits for a rate limit (every 429, and a spent
  budget's reset when that is `LOUD_WAIT` seconds or more away).
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from followerledger import __version__, progress, stopping
from followerledger.clock import Clock as Clock
from followerledger.clock import utc_now as utc_now
from followerledger.urls import shown_url

Sleep = Callable[[float], None]
#: Query parameters: a mapping, or pairs for repeated keys such as Mastodon's `id[]`.
Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None
#: What is wrong with a decoded 2xx body ("'data' is not a list"), or None when it has the
#: documented shape.
Shape = Callable[[Any], str | None]

USER_AGENT = f"followerledger/{__version__} (+https://github.com/followerledger)"
#: A spent budget's wait this long or longer is logged; shorter ones are routine pacing.
LOUD_WAIT: Final = 5.0
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def say_waiting(
    logger: Logger, who: str, why: str, seconds: float, now: datetime, *, about: bool = False
) -> None:
    """Log at WARNING that `who` waits `seconds` for a rate limit, and until when (UTC):
    `x: rate-limited (429), waiting 300 s until 12:05:00 UTC`. The one wording of every
    rate-limit wait (this client's, the token buckets', the shared Prefect budgets')."""
    # Rounded as the seconds are shown, so "waiting 9 s" is 9 s before the time shown.
    until = now + timedelta(seconds=round(seconds))
    progress.waiting(who, until)
    logger.warning(
        "%s: %s, waiting %s%.0f s until %s UTC",
        who,
        why,
        "about " if about else "",
        seconds,
        f"{until:%H:%M:%S}",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    """What a platform's rate-limit headers said about the current window.

    `retry_in` is a reset given relative to the answer (Meta's minutes until access is
    regained): the client turns it into `reset_at` with its own clock.
    """

    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    retry_in: float | None = None


BudgetReader = Callable[[Mapping[str, str]], Budget | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Throttled:
    """A non-429 answer that says "slow down": why (for the log line), and the seconds to
    wait when the headers announce no reset (None: the client's backoff)."""

    why: str
    seconds: float | None = None


#: Whether an answer other than a 429 is a throttle answer (None: it is not).
ThrottleCheck = Callable[[requests.Response], Throttled | None]


def never_throttled(response: requests.Response) -> Throttled | None:
    """For platforms that say "slow down" only with 429."""
    return None


class RateLimited(Exception):
    """The platform's budget is spent and its reset is further away than we may wait."""

    def __init__(self, platform: str, until: datetime | None) -> None:
        self.platform = platform
        self.until = until
        when = until.strftime("%Y-%m-%dT%H:%M:%SZ") if until else "an unannounced time"
        super().__init__(f"{platform} is rate-limited until {when}")


class RequestFailed(Exception):
    """A request could not be completed; the message is safe to store (secrets redacted)."""


@dataclasses.dataclass(slots=True)
class _RetryAfter(Exception):
    """Internal: retry this request, after `seconds` if given, else after backoff."""

    reason: str
    seconds: float | None = None
    rate_limited: bool = False
    why: str = "rate-limited (429)"


def epoch_seconds(text: str) -> datetime:
    """A reset given as a Unix time in seconds (X, Bluesky)."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (OverflowError, OSError):
        raise ValueError(text) from None


def iso8601(text: str) -> datetime:
    """A reset given as an ISO-8601 time, UTC when it names no zone (Mastodon)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rate_limit_headers(
    limit: str, remaining: str, reset: str, reset_at: Callable[[str], datetime] = epoch_seconds
) -> BudgetReader:
    """A reader for a platform's limit, remaining and reset headers; `reset_at` reads the
    reset's form (`epoch_seconds`, `iso8601`), and a reset it cannot read is unknown."""

    def read(headers: Mapping[str, str]) -> Budget | None:
        if remaining not in headers and reset not in headers:
            return None
        moment = None
        if reset in headers:
            try:
                moment = reset_at(headers[reset])
            except ValueError:
                moment = None
        return Budget(
            _int_or_none(headers.get(limit)), _int_or_none(headers.get(remaining)), moment
        )

    return read


def no_budget_headers(headers: Mapping[str, str]) -> Budget | None:
    """For platforms without rate-limit headers (YouTube counts quota instead)."""
    return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _why_unreachable(error: BaseException) -> str:
    """What the socket said under requests' and urllib3's wrappers ('connection refused')."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, ConnectionResetError):
            return "connection reset"
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return type(error).__name__


def make_session(pool_size: int = 8, headers: Mapping[str, str] | None = None) -> requests.Session:
    """A requests Session with a connection pool sized for concurrent batches."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    if headers:
        session.headers.update(headers)
    return session


#: A piece of a secret this long or longer at the end of a text (the rest cut off) is masked:
#: shorter pieces say too little to matter, and masking them would eat ordinary text.
MIN_SECRET_PIECE: Final = 8


class ApiClient:
    """Requests to one platform's API, shared by all of its batches in a run."""

    def __init__(
        self,
        platform: str,
        base_url: str,
        session: requests.Session,
        *,
        read_budget: BudgetReader,
        timeout: float = 20.0,
        attempts: int = 8,
        max_wait: float = 900.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        secrets: Iterable[str] = (),
        concurrency: int = 4,
        throttle: Callable[[], None] | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = stopping.sleep,
        logger: Logger | None = None,
        throttled: ThrottleCheck = never_throttled,
    ) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.read_budget = read_budget
        self.timeout = timeout
        self.attempts = attempts
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self.logger = logger or logging.getLogger(__name__)
        self._secrets = tuple(secret for secret in secrets if secret)
        self._backoff = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max)
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(concurrency)
        self.throttle = throttle
        self.throttled = throttled
        self._budget: Budget | None = None
        self.requests_made = 0
        #: What the attempts cost the rate budget (`post`'s cost; one per GET).
        self.calls_made = 0
        self.emulated = False

    def add_secret(self, secret: str) -> None:
        """Redact `secret` too from now on (a token issued during the run)."""
        if secret:
            with self._lock:
                self._secrets = (*self._secrets, secret)

    def redact(self, text: str) -> str:
        """The text with every secret of this client replaced by '***', and a text ending in
        the first MIN_SECRET_PIECE or more characters of a secret (cut short by someone else)
        ending in '***' instead."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        for secret in self._secrets:
            for length in range(len(secret) - 1, MIN_SECRET_PIECE - 1, -1):
                if text.endswith(secret[:length]):
                    text = text[:-length] + "***"
                    break
        return text

    def get(
        self, path: str, params: Params = None, *, shape: Shape | None = None
    ) -> requests.Response:
        """GET base_url + path; retries and rate limits handled as the module says.

        With `shape`, a 2xx answer must be JSON that `shape` finds nothing wrong with, or it
        is retried like a 5xx (answers of other statuses are returned as they are).
        """
        return self._send("GET", path, params, None, shape, 1)

    def post(
        self,
        path: str,
        data: Mapping[str, str],
        *,
        shape: Shape | None = None,
        cost: int = 1,
    ) -> requests.Response:
        """POST the form `data` to base_url + path, as `get` sends a GET; `cost` is the rate
        budget one attempt spends (a Graph batch of 50 calls costs 50)."""
        return self._send("POST", path, None, data, shape, cost)

    def _send(
        self,
        method: str,
        path: str,
        params: Params,
        data: Mapping[str, str] | None,
        shape: Shape | None,
        cost: int,
    ) -> requests.Response:
        retrying = Retrying(
            stop=self._stop(),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryAfter),
            before_sleep=self._say_rate_limited,
            sleep=self._sleep_checked,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, data, shape, cost)
        except _RetryAfter as last:
            tries = retrying.statistics.get("attempt_number", self.attempts)
            raise RequestFailed(
                self.redact(f"{last.reason} (gave up after {tries} attempts)")
            ) from None

    def _stop(self) -> Callable[[RetryCallState], bool]:
        """Stop after `attempts` failures, counting 429s apart: a rate limit is not a failure
        of the request, and must not spend the tries a flaky answer needs."""
        failed = {True: 0, False: 0}

        def stop(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            rate_limited = isinstance(error, _RetryAfter) and error.rate_limited
            failed[rate_limited] += 1
            return failed[rate_limited] >= self.attempts

        return stop

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryAfter) and error.seconds is not None:
            return error.seconds
        return float(self._backoff(state))

    def _say_rate_limited(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryAfter) and error.rate_limited and state.next_action:
            self._say_waiting(error.why, state.next_action.sleep)

    def _say_waiting(self, why: str, seconds: float) -> None:
        say_waiting(self.logger, self.platform, why, seconds, self.clock())

    def _sleep_checked(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` from now, on any thread (a throttle answer to part of
        a request, such as one Graph batch entry); a reset the headers announced (a spent
        budget still to come) is believed instead."""
        now = self.clock()
        reset = now + timedelta(seconds=seconds)
        with self._lock:
            budget = self._budget
            if (
                budget is not None
                and budget.remaining == 0
                and budget.reset_at is not None
                and budget.reset_at > now
            ):
                return
            self._budget = Budget(None, 0, reset)

    def _wait_for_budget(self) -> None:
        """Before sending: if the platform said the window is spent, wait for its reset."""
        with self._lock:
            budget = self._budget
        if budget is None or budget.remaining is None or budget.remaining > 0:
            return
        if budget.reset_at is None:
            return
        wait = (budget.reset_at - self.clock()).total_seconds()
        if wait <= 0:
            return
        if wait > self.max_wait:
            raise RateLimited(self.platform, budget.reset_at)
        if wait >= LOUD_WAIT:
            left = f"0 of {budget.limit} requests left" if budget.limit is not None else "none left"
            self._say_waiting(f"rate budget spent ({left})", wait)
        self.sleep(wait)
        with self._lock:
            if self._budget is budget:
                self._budget = None

    def _attempt(
        self,
        method: str,
        path: str,
        params: Params,
        data: Mapping[str, str] | None,
        shape: Shape | None,
        cost: int,
    ) -> requests.Response:
        self._wait_for_budget()
        if self.throttle is not None:
            for _ in range(cost):
                self.throttle()
        url = self.base_url + path
        with self._lock:
            self.requests_made += 1
            self.calls_made += cost
        try:
            with self._in_flight:
                if method == "POST":
                    response = self.session.post(url, data=data, timeout=self.timeout)
                else:
                    response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise _RetryAfter(f"no answer from {self.platform} within {self.timeout:g} s") from None
        except requests.ConnectionError as error:
            where = shown_url(self.base_url)  # never the URL's credentials
            raise _RetryAfter(
                self.redact(f"cannot reach {self.platform} at {where}: {_why_unreachable(error)}")
            ) from None
        except requests.RequestException as error:
            raise _RetryAfter(
                self.redact(f"request to {self.platform} failed: {type(error).__name__}")
            ) from None

        if response.headers.get("X-FollowerLedger-Emulator"):
            self.emulated = True
        now = self.clock()
        budget = self.read_budget(response.headers)
        if budget is not None and budget.reset_at is None and budget.retry_in is not None:
            budget = dataclasses.replace(budget, reset_at=now + timedelta(seconds=budget.retry_in))
        if budget is not None:
            with self._lock:
                self._budget = budget

        throttled = None if response.status_code == 429 else self.throttled(response)
        if response.status_code == 429 or throttled is not None:
            wait = self._rate_limit_wait(response, budget, now)
            if wait is None and throttled is not None:
                wait = throttled.seconds
            if throttled is not None and wait is not None:
                # A throttle answer is the whole client's (Meta's app or user limit): the
                # other threads' batches must wait too, not keep adding to the call count.
                with self._lock:
                    self._budget = Budget(None, 0, now + timedelta(seconds=wait))
            if wait is not None and wait > self.max_wait:
                until = now + timedelta(seconds=wait)
                raise RateLimited(
                    self.platform, budget.reset_at if budget and budget.reset_at else until
                )
            if throttled is None:
                raise _RetryAfter(f"{self.platform} answered 429 Too Many Requests", wait, True)
            raise _RetryAfter(
                self.redact(f"{self.platform} {throttled.why}"), wait, True, throttled.why
            )
        if response.status_code >= 500:
            raise _RetryAfter(f"{self.platform} answered HTTP {response.status_code}")
        if shape is not None and 200 <= response.status_code < 300:
            self._check_body(response, shape)
        return response

    def _check_body(self, response: requests.Response, shape: Shape) -> None:
        """Raise `_RetryAfter` for a body that is not JSON or not of the shape: a dropped
        connection or a proxy's page, which a new request usually cures."""
        said = f"{self.platform} answered HTTP {response.status_code} with"
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as error:
            raise _RetryAfter(
                f"{said} a body that is not valid JSON ({type(error).__name__})"
            ) from None
        problem = shape(body)
        if problem is not None:
            raise _RetryAfter(self.redact(f"{said} a body not of the documented shape ({problem})"))

    def _rate_limit_wait(
        self, response: requests.Response, budget: Budget | None, now: datetime
    ) -> float | None:
        # At least a second: a reset already in the past must not turn into a tight loop.
        if budget is not None and budget.reset_at is not None:
            return max(1.0, (budget.reset_at - now).total_seconds())
        seconds = _retry_after_seconds(response.headers.get("Retry-After"), now)
        return None if seconds is None else max(1.0, seconds)
