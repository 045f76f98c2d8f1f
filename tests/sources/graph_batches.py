"""Graph batch answers for the Meta sources' tests: a loopback handler that answers each
call of a batch POST by its own rule, and counts what was sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug import Request, Response

from followerledger.sources.platform import RatePolicy

#: An answer for one call: (HTTP code, body as JSON) or None for a null entry.
EntryAnswer = tuple[int, Any] | None


def entry(code: int, body: Any) -> dict[str, Any]:
    """One batch entry as Meta writes it: its code and its body as a JSON string."""
    return {"code": code, "body": json.dumps(body)}


class BatchServer:
    """Answers a Graph batch POST: `answer(relative_url, attempt)` per call; records every
    batch's relative URLs (`batches`) and the form and headers of every request."""

    def __init__(
        self,
        answer: Callable[[str, int], EntryAnswer],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.answer = answer
        self.headers = dict(headers or {})
        self.batches: list[list[str]] = []
        self.forms: list[dict[str, str]] = []
        self.auth: list[str | None] = []
        self.urls: list[str] = []
        self.tries: dict[str, int] = {}

    def __call__(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.forms.append(form)
        self.auth.append(request.headers.get("Authorization"))
        self.urls.append(request.url)
        calls = json.loads(form["batch"])
        urls = [call["relative_url"] for call in calls]
        self.batches.append(urls)
        out: list[Any] = []
        for url in urls:
            attempt = self.tries.get(url, 0)
            self.tries[url] = attempt + 1
            answered = self.answer(url, attempt)
            out.append(None if answered is None else entry(*answered))
        return Response(json.dumps(out), 200, self.headers, content_type="application/json")


def unpaced(policy: RatePolicy) -> Callable[[], None]:
    """No token bucket: the process's shared one would hold the budget of every test (200
    calls an hour for Instagram) and sleep for real once they spent it."""
    return lambda: None
