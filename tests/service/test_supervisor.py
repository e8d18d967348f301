"""What a worker's exit code means for its job."""

from __future__ import annotations

import pytest

from runner.service.supervisor import event_for_exit
from runner.store.models import JobEvent


@pytest.mark.parametrize(
    ("code", "aborted", "cancel", "event"),
    [
        (0, False, False, JobEvent.SUCCEED),
        (1, False, False, JobEvent.FAIL),
        (130, False, True, JobEvent.CANCEL),
        (130, False, False, JobEvent.RETRY),  # interrupted, but nobody asked: try again
        (3, False, False, JobEvent.RETRY),
        (-9, False, False, JobEvent.RETRY),
        (-9, True, False, JobEvent.RELEASE),
        (0, True, False, JobEvent.RELEASE),
    ],
)
def test_event_for_exit(code: int, aborted: bool, cancel: bool, event: JobEvent) -> None:
    assert event_for_exit(code, aborted=aborted, cancel_requested=cancel) is event
