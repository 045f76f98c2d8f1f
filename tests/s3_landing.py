"""A child process that lands one platform's rows of a run into the lake the environment
names (`FOLLOWERLEDGER_LAKE`, the AWS_* variables), staged by its `DeltaRunWriter`, as
`python -m tests.s3_landing <platform> <run_id> <rows>`: what the S3 kill test SIGKILLs at
the `delta-commit` pause point."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from typing import Final

from followerledger.delta_lake import delta_lake_of
from followerledger.landing import Landing
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation

#: Every landing of this module starts at this moment (a kill and its re-run land one run).
STARTED_AT: Final = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: Small buffers, so a landing of a few hundred rows is staged and streamed at its commit.
ROW_GROUP_ROWS: Final = 50


def observations(platform: str, run_id: str, count: int) -> list[Observation]:
    """`count` made-up rows of one run and platform (distinct handles)."""
    return [
        Observation(
            run_id=run_id,
            observed_at=STARTED_AT,
            platform=platform,
            handle=f"{platform}-{run_id}-{index}",
            status="ok",
            source="api",
            account_id=f"{platform}-{index}",
            followers=1000 + index,
        )
        for index in range(count)
    ]


def land(platform: str, run_id: str, count: int) -> int | None:
    """Land the rows in one commit; the version made."""
    lake = delta_lake_of(WarehouseLayout.from_environment())
    landing = Landing(lake, platform, run_id, STARTED_AT, row_group_rows=ROW_GROUP_ROWS)
    rows = observations(platform, run_id, count)
    for start in range(0, count, ROW_GROUP_ROWS):
        landing.add(rows[start : start + ROW_GROUP_ROWS])
    return landing.commit()


def land_together(barrier: Barrier, platform: str, run_id: str, count: int) -> None:
    """`land`, once every process sharing `barrier` is ready (a spawned process's target)."""
    delta_lake_of(WarehouseLayout.from_environment())  # imports paid before the barrier
    barrier.wait(timeout=60)
    land(platform, run_id, count)


def main(argv: Sequence[str]) -> int:
    """Land `<platform> <run_id> <rows>`; exit 0 once committed."""
    platform, run_id, count = argv
    land(platform, run_id, int(count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
