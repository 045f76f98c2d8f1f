"""Thin Prefect flows: they orchestrate calls into the library and nothing else.

Imported lazily (the `query` path never loads Prefect). The repository's top-level `flows/`
links here, so `prefect.yaml` entrypoints read `flows/<name>.py:<flow>`.
"""

from typing import Any, TypeVar, cast

from prefect.states import Failed
from prefect.utilities.annotations import quote

T = TypeVar("T")


def as_is(value: T) -> T:
    """A task argument Prefect passes through untouched. Without it Prefect walks every item
    of a large collection (10,000 accounts: seconds per task) looking for futures."""
    return cast(T, cast(Any, quote(value)))


def failed(error: Exception, returns: type[T]) -> T:
    """A flow's Failed end carrying `error`: returned, not raised, so that a user's mistake
    (a wrong token) is not logged with a traceback; Prefect makes a returned state the run's
    final state (a caller gets `error` raised, never the state), hence typed as what the flow
    `returns` otherwise."""
    return cast(T, Failed(message=str(error), data=error))
