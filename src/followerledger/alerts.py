"""Alerts: a milestone reached, a daily drop, a stale account, a failed run; each sent once.

Rules come from the watchlist's `alerts:` section (`watchlist.AlertRules`); destinations
are Apprise URLs (Slack, e-mail, Teams, plain JSON webhooks, …) in
`FOLLOWERLEDGER_ALERT_URLS`. Alerts are off until that is set.

Every alert carries the key of the event it reports:

- `milestone:<account>:<milestone>`: the first count at or above a milestone after one
  below it; once per account and milestone, ever (a count wobbling around a round number
  does not alert every hour).
- `drop:<account>:<UTC day>`: this run's count is more than `drop_percent` below the
  account's last count of the previous UTC day; once per account and day.
- `stale:<account>`: no follower count for `stale_hours`; once per stale spell (the key
  is forgotten when the account is counted again, so the next spell alerts again).
- `failed_run:<flow run id>`: a flow run failed or crashed; once per run.

The keys of delivered alerts live in `<warehouse>/_state/alerts.json`, written under the
`alerts` lock, so repeated or overlapping runs never send an event twice. An alert whose
delivery failed is kept there too, and sent again by the next run (for up to 8 days).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from followerledger import locks
from followerledger.errors import ConfigError
from followerledger.layout import WarehouseLayout
from followerledger.manifest import replace_json
from followerledger.run_changes import AccountChange
from followerledger.secret_blocks import SecretBlockError, with_secret_blocks
from followerledger.settings import Settings, load_settings
from followerledger.sources.http import Logger
from followerledger.watchlist import AlertRules, WatchlistError, load_watchlist

Kind = Literal["milestone", "drop", "stale", "failed_run"]

LEDGER_VERSION: Final = 1
#: Keys of one-off events (drops, failed runs) are forgotten this long after they were sent
#: (they cannot happen again: their day or run is in the key); undelivered alerts are
#: dropped this long after their first attempt.
FORGET_AFTER: Final = timedelta(days=8)
_ONE_OFF: Final = ("drop:", "failed_run:")


class AlertConfigError(ConfigError):
    """Alert destinations (`FOLLOWERLEDGER_ALERT_URLS`) cannot be used; the message says what
    to fix. A configuration error like any other; its own name lets delivery tell it apart."""


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """One event to report."""

    key: str
    kind: Kind
    title: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluation:
    """The alerts due now, and the ongoing conditions (stale spells) that have ended."""

    alerts: tuple[Alert, ...]
    recovered: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one dispatch did."""

    sent: tuple[Alert, ...]
    already_sent: int
    failed: tuple[Alert, ...]


def _count(value: int) -> str:
    return f"{value:,}"


def _account(change: AccountChange) -> str:
    return f"{change.handle} on {change.platform} ({change.brand})"


def evaluate(changes: Sequence[AccountChange], rules: AlertRules, now: datetime) -> Evaluation:
    """The alerts the accounts' changes call for under these rules (ledger not consulted)."""
    alerts: list[Alert] = []
    recovered: set[str] = set()
    for change in changes:
        if change.followers is not None and change.previous_followers is not None:
            for milestone in rules.milestones:
                if change.previous_followers < milestone <= change.followers:
                    alerts.append(
                        Alert(
                            f"milestone:{change.key}:{milestone}",
                            "milestone",
                            f"{change.handle} reached {_count(milestone)} followers",
                            f"{_account(change)} has {_count(change.followers)} followers "
                            f"(was {_count(change.previous_followers)}).",
                        )
                    )
        prior = change.prior_day_followers
        if (
            rules.drop_percent is not None
            and change.followers is not None
            and change.observed_at is not None
            and prior
        ):
            drop = 100.0 * (prior - change.followers) / prior
            if drop > rules.drop_percent:
                day = change.observed_at.date()
                alerts.append(
                    Alert(
                        f"drop:{change.key}:{day.isoformat()}",
                        "drop",
                        f"{change.handle} lost {drop:.1f}% of its followers on {day}",
                        f"{_account(change)}: {_count(change.followers)} followers, down from "
                        f"{_count(prior)} at the end of the previous UTC day "
                        f"(more than the {rules.drop_percent:g}% alert threshold).",
                    )
                )
        if rules.stale_hours is not None:
            threshold = now - timedelta(hours=rules.stale_hours)
            key = f"stale:{change.key}"
            if change.last_count_at is not None and change.last_count_at >= threshold:
                recovered.add(key)
            elif change.first_seen_at is not None and change.first_seen_at <= threshold:
                alerts.append(_stale(change, key, rules.stale_hours))
    return Evaluation(tuple(alerts), frozenset(recovered))


def _stale(change: AccountChange, key: str, hours: float) -> Alert:
    last = (
        f"last counted {change.last_count_at:%Y-%m-%d %H:%M} UTC"
        if change.last_count_at is not None
        else "no count in the days read"
    )
    latest = f"; latest status: {change.status}" if change.status else ""
    detail = f" ({change.detail})" if change.detail else ""
    return Alert(
        key,
        "stale",
        f"{change.handle} has no fresh follower count",
        f"{_account(change)} has had no follower count for more than {hours:g} hours: "
        f"{last}{latest}{detail}.",
    )


def failed_run_alert(
    flow_name: str, run_name: str, run_id: str, state: str, message: str, link: str | None
) -> Alert:
    """The alert for one failed or crashed flow run (the message must be redacted)."""
    where = f"\n{link}" if link else ""
    return Alert(
        f"failed_run:{run_id}",
        "failed_run",
        f"followerledger {flow_name} run {run_name} {state.lower()}",
        f"Flow run {run_name} of {flow_name} ended {state}: {message or 'no message'}{where}",
    )


@dataclasses.dataclass
class Ledger:
    """Alerts already delivered (key -> ISO time), and alerts whose delivery failed."""

    sent: dict[str, str] = dataclasses.field(default_factory=dict)
    pending: dict[str, tuple[Alert, str]] = dataclasses.field(default_factory=dict)


class AlertLedger:
    """`<warehouse>/_state/alerts.json`: what was sent, and what is still to send."""

    def __init__(self, layout: WarehouseLayout) -> None:
        self.path = layout.alerts_ledger

    def load(self) -> Ledger:
        """The ledger (empty when there is none yet, or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != LEDGER_VERSION:
                return Ledger()
            return Ledger(
                sent={str(key): str(value) for key, value in data["sent"].items()},
                pending={
                    item["key"]: (
                        Alert(item["key"], item["kind"], item["title"], item["body"]),
                        item["since"],
                    )
                    for item in data["pending"]
                },
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return Ledger()

    def save(self, ledger: Ledger) -> None:
        """Replace the ledger atomically."""
        pending = [
            {**dataclasses.asdict(alert), "since": since}
            for alert, since in sorted(ledger.pending.values(), key=lambda item: item[0].key)
        ]
        replace_json(
            self.path,
            {
                "version": LEDGER_VERSION,
                "sent": dict(sorted(ledger.sent.items())),
                "pending": pending,
            },
        )


def stale_keys(layout: WarehouseLayout) -> frozenset[str]:
    """`<platform>:<handle key>` of every stale spell the ledger holds (sent or pending): the
    accounts whose recovery a run must notice (`run_changes.run_changes` reads them). Read
    without the lock: a spell alerted meanwhile is noticed by the next run."""
    ledger = AlertLedger(layout).load()
    keys = (*ledger.sent, *ledger.pending)
    return frozenset(key.removeprefix("stale:") for key in keys if key.startswith("stale:"))


Sender = Callable[[Alert], bool]


def apprise_sender(urls: str) -> Sender:
    """A sender delivering to every Apprise URL in `urls` (space- or comma-separated)."""
    # Imported here, when alerts are on: Apprise and its plugins cost every run ~20 MB.
    import apprise

    notifier = apprise.Apprise()
    notifier.add(urls)
    if len(notifier) == 0:
        raise AlertConfigError(
            "FOLLOWERLEDGER_ALERT_URLS holds no URL Apprise understands "
            "(e.g. slack://…, mailto://…, json://host/path): see docs/operations.md, Alerts"
        )

    def send(alert: Alert) -> bool:
        kind = apprise.NotifyType.INFO if alert.kind == "milestone" else apprise.NotifyType.FAILURE
        with _quiet("apprise"):
            return bool(notifier.notify(body=alert.body, title=alert.title, notify_type=kind))

    return send


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's logger: Apprise may log a destination URL, which holds secrets."""
    logger = logging.getLogger(name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def dispatch(
    layout: WarehouseLayout, evaluation: Evaluation, send: Sender, now: datetime
) -> DispatchReport:
    """Send each alert not sent before, and those whose delivery failed earlier; remember
    what was delivered, and keep what failed for the next dispatch."""
    ledger_file = AlertLedger(layout)
    sent: list[Alert] = []
    failed: list[Alert] = []
    already = 0
    with locks.hold(layout, "alerts"):
        ledger = ledger_file.load()
        for key in evaluation.recovered:
            ledger.sent.pop(key, None)
            ledger.pending.pop(key, None)
        due = {key: alert for key, (alert, _) in ledger.pending.items()}
        for alert in evaluation.alerts:
            if alert.key in ledger.sent:
                already += 1
            else:
                due.setdefault(alert.key, alert)
        for key, alert in due.items():
            if send(alert):
                ledger.sent[key] = now.isoformat()
                ledger.pending.pop(key, None)
                sent.append(alert)
            else:
                ledger.pending.setdefault(key, (alert, now.isoformat()))
                failed.append(alert)
        horizon = now - FORGET_AFTER
        for key, when in list(ledger.sent.items()):
            if key.startswith(_ONE_OFF) and datetime.fromisoformat(when) < horizon:
                del ledger.sent[key]
        for key, (_, since) in list(ledger.pending.items()):
            if datetime.fromisoformat(since) < horizon:
                del ledger.pending[key]
        ledger_file.save(ledger)
    return DispatchReport(tuple(sent), already, tuple(failed))


def alert_on_changes(
    settings: Settings, rules: AlertRules, changes: Sequence[AccountChange], now: datetime
) -> DispatchReport | None:
    """Evaluate a run's account changes and send what is new (None: alerts are off)."""
    if settings.alert_urls is None:
        return None
    send = apprise_sender(settings.alert_urls.get_secret_value())
    return dispatch(settings.layout, evaluate(changes, rules, now), send, now)


def alert_on_failed_run(
    settings: Settings, rules: AlertRules, alert: Alert, now: datetime
) -> DispatchReport | None:
    """Send a failed-run alert once (None: alerts or this rule are off)."""
    if settings.alert_urls is None or not rules.failed_runs:
        return None
    send = apprise_sender(settings.alert_urls.get_secret_value())
    return dispatch(settings.layout, Evaluation((alert,)), send, now)


def send_change_alerts(
    settings: Settings,
    rules: AlertRules,
    changes: Sequence[AccountChange],
    now: datetime,
    logger: Logger,
) -> None:
    """Send the alerts a run's account changes call for, each event once, saying so on
    `logger`. A failed delivery is retried by the next run; a bad destination is logged,
    never raised: the run's rows landed."""
    try:
        report = alert_on_changes(settings, rules, changes, now)
    except AlertConfigError as error:
        logger.error("alerts: %s", error)
        return
    if report is None:
        return
    logger.info("alerts: %d sent, %d sent before", len(report.sent), report.already_sent)
    if report.failed:
        logger.warning(
            "alerts: %d could not be delivered; the next run sends them again",
            len(report.failed),
        )


def send_failed_run_alert(
    flow_name: str,
    run_name: str,
    run_id: str,
    state: str,
    message: str,
    link: str | None,
    logger: Logger,
    now: datetime | None = None,
) -> DispatchReport | None:
    """Send the failed-run alert of a run ended in `state`, once per run (the ledger
    remembers it), with the settings and rules in force now; None when alerts or the
    failed-run rule are off."""
    settings = load_settings()
    try:
        settings = with_secret_blocks(settings)
    except SecretBlockError as error:
        # Alert with what the environment holds; the unread block is worth a log line.
        logger.warning("alerts: %s", error)
    try:
        rules = load_watchlist(settings.watchlist).alerts
    except WatchlistError:
        rules = AlertRules()  # the failure may well be the watchlist: still say so
    alert = failed_run_alert(flow_name, run_name, run_id, state, settings.redact(message), link)
    return alert_on_failed_run(settings, rules, alert, now or datetime.now(UTC))
