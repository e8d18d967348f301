"""Fault-injection points: where the crash-safety suite stops a job to kill it there.

`reached(name)` does nothing unless `OPTIRUNNER_FAULTS_DIR` names a folder that holds a
file called `name` (the service never sets it; tests/service/test_crash_safety.py does).
Then the first process to reach the point takes the file (renamed `name.reached`, with its
pid written in it) and waits there, forever, for the test to SIGKILL it (or `serve`). Each
file stops one process once: the next attempt of the job passes the point.

The points (in the order a job reaches them): `forge:started`, `stage:workspace`,
`workspace:checkout`, `stage:baseline`, `baseline:tests`, `stage:generate`, `stage:verify`,
`verify:candidate`, `stage:measure`, `measure:timed`, `stage:report`, `forge:post`,
`forge:posted`; in `serve`, `store:write` (inside a transaction that changes a job) and, in
a worker, `spool:append` (inside the telemetry spool's write).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "OPTIRUNNER_FAULTS_DIR"


def reached(name: str) -> None:
    """Stop here for good if the fault directory asks for `name` (see the module doc)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    trigger = Path(folder) / name
    taken = trigger.with_name(f"{name}.reached")
    try:
        os.rename(trigger, taken)  # atomic: one process takes it
    except OSError:
        return
    with taken.open("a", encoding="utf-8") as out:
        out.write(f"{os.getpid()}\n")
    while True:  # until killed
        time.sleep(3600)
