"""Issue 24: a job killed anywhere finishes on its retry, exactly once, posting nothing twice.

Real processes and real SIGKILL: a real `optirunner serve` runs a GitLab `/optimize` job
(the fake GitLab and git smart-HTTP server of tests/forge), and the fault points of
`runner/faults.py` stop its worker at every stage boundary and inside each long stage. At
each stop the test kills the worker — or, in the second chain, `serve` itself, then starts
a new `serve`. One job goes through all the kills in turn (each attempt stops at the next
point), so the retry always starts on the leftovers of dead attempts. In the end: the job
succeeded once, the issue has one note and one merge request, no process of the job is
left, and no worktree is left registered in the repositories.

Also: `serve` killed inside a job-database write and a worker killed inside a telemetry
spool append (both files stay sound), a job whose only attempt was killed is brought back
by `optirunner jobs replay`, and a worker outlives neither `serve` nor its lease.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.config import load_settings
from runner.store.factory import open_store
from runner.store.models import JobState
from runner.store.queue import JobStore

from .conftest import (
    Serve,
    enqueue,
    free_port,
    in_state,
    sleep_cmd,
    tiny_repo,
    wait_for,
    write_config,
)
from .test_forge_e2e import (
    TOKEN,
    World,
    check_delivery,
    deliver_note,
    job_state,
    wait_done,
    worker_log,
    world,  # noqa: F401 - the fixture
)
from .test_serve import alive, worker_pids

pytestmark = pytest.mark.slow

# The points a GitLab job passes, in order (runner/faults.py).
POINTS = (
    "forge:started",
    "stage:workspace",
    "workspace:checkout",
    "stage:baseline",
    "baseline:tests",
    "stage:generate",
    "stage:verify",
    "verify:candidate",
    "stage:measure",
    "measure:timed",
    "stage:report",
    "forge:post",
    "forge:posted",
)


def arm(folder: Path, *points: str) -> Path:
    folder.mkdir(exist_ok=True)
    for point in points:
        (folder / point).touch()
    return folder


def reached(folder: Path, point: str, timeout: float, explain: object = None) -> int:
    """The pid of the process that stopped at `point` (waits for it)."""
    taken = folder / f"{point}.reached"

    def there() -> bool:
        if callable(explain):
            explain()
        return taken.is_file() and taken.read_text().strip() != ""

    wait_for(there, timeout, f"a process at {point}")
    return int(taken.read_text().split()[0])


def leftovers(tmp: Path, keep: set[int]) -> list[str]:
    """Processes (other than `keep` and this test) whose command line names `tmp`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in keep | {os.getpid()}:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(tmp) in cmdline and "http-backend" not in cmdline and alive(int(entry.name)):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def registered_worktrees(state_dir: Path) -> list[str]:
    """Worktrees the runner's repository caches still know (besides their own folders)."""
    out = []
    for gitdir in sorted((state_dir / "repos").rglob("worktrees")):
        if gitdir.parent.name.endswith(".git") or (gitdir.parent / "HEAD").is_file():
            out += [str(p) for p in gitdir.iterdir()]
    return out


def worker_pid(job_dir: Path) -> int | None:
    """The worker the supervisor started last for the job (runner/service/procs.py)."""
    try:
        return int(json.loads((job_dir / "worker.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def measured(kind: str, **fields: object) -> None:
    """One line for benchmarks/fault_injection.py, when it asks (FAULT_INJECTION_LOG:
    not OPTIRUNNER_*, which tests/conftest.py clears for every test)."""
    target = os.environ.get("FAULT_INJECTION_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps({"kind": kind, **fields}) + "\n")


def chain_config(fw: World) -> Path:
    """serve_config's settings with room for one attempt per fault point, and the faults."""
    config = write_config(fw.tmp, tiny_repo(fw.tmp / "unused-repo"), max_attempts=20)
    gitlab = f'[forge.gitlab]\nurl = "{fw.api.url}"\ngit_url = "{fw.git_server.url}"\n'
    # One candidate and a short measurement: the chain runs the job's stages 14 times.
    first, rest = config.read_text().split("\n", 1)
    config.write_text(f"{first}\nmax_candidates = 1\n{rest}")
    with open(config, "a") as out:
        out.write(
            "[inputs]\ngenerated = 50\n"
            "[measure]\nbudget_s = 15\ninstructions = \"never\"\nnoise_check = false\n"
            "[forge]\nauthor_name = \"optirunner bot\"\nauthor_email = \"bot@optirunner.test\"\n"
            f"{gitlab}"
        )  # fmt: skip
    return config


def start(config: Path, serves: list[Serve], faults: Path) -> Serve:
    env = {"OPTIRUNNER_GITLAB_TOKEN": TOKEN, "OPTIRUNNER_FAULTS_DIR": str(faults)}
    serve = Serve(config, env=env)
    serves.append(serve)
    serve.wait_ready()
    return serve


def check_clean(serve: Serve, fw: World, job_id: str) -> None:
    """Nothing of the job runs on; no checkout is left on disk or in git's bookkeeping."""
    state_dir = serve.settings.state_dir
    wait_for(lambda: not leftovers(fw.tmp, {serve.proc.pid}), 10, "the job's processes end")
    job_dir = state_dir / "jobs" / job_id
    assert not list((job_dir / "worktrees").glob("*")), list((job_dir / "worktrees").glob("*"))
    assert not list((state_dir / "worktrees").glob("*"))
    assert registered_worktrees(state_dir) == []
    # And the remote never saw a second branch.
    heads = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/heads"],
        cwd=fw.bare, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert len(heads) == 2, heads  # main and the one result branch


@pytest.mark.parametrize("victim", ["worker", "serve"])
def test_a_job_killed_at_every_point_succeeds_once(
    world: World,  # noqa: F811 - the fixture
    serves: list[Serve],
    victim: str,
) -> None:
    faults = arm(world.tmp / "faults", *POINTS)
    config = chain_config(world)
    serve = start(config, serves, faults)
    job_id = deliver_note(serve, world)

    def not_failed() -> None:
        if victim == "worker":  # (serve is down between kills in the other chain)
            state = job_state(serve, job_id)["state"]
            assert state in {"queued", "running"}, worker_log(serve, job_id)

    job_dir = serve.settings.state_dir / "jobs" / job_id
    for point in POINTS:
        pid = reached(faults, point, 180, not_failed)
        killed = time.monotonic()
        if victim == "worker":
            os.kill(pid, signal.SIGKILL)
        else:
            os.kill(serve.proc.pid, signal.SIGKILL)  # serve only: its worker must die with it
            serve.wait()
            wait_for(lambda pid=pid: not alive(pid), 5, f"the worker at {point} to die with serve")
            serve = start(config, serves, faults)
        # Recovered: the next attempt's worker has started.
        wait_for(lambda pid=pid: worker_pid(job_dir) not in {None, pid}, 60, "the next attempt")
        measured("kill", victim=victim, point=point, recovery_s=time.monotonic() - killed)

    wait_done(serve, world, job_id, timeout=300)
    job = open_store(serve.settings).get(job_id)
    log = worker_log(serve, job_id)
    measured(
        "job",
        victim=victim,
        kills=len(POINTS),
        state=job.state.value,
        attempts=job.attempts,
        runs_to_the_end=log.count("optirunner worker: succeeded"),
        notes_created=len(world.requests("POST", "/issues/7/notes")),
        merge_requests_created=len(world.requests("POST", "/merge_requests")),
    )
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == len(POINTS) + 1, log
    assert job.fence == len(POINTS) + 1
    check_delivery(serve, world, job_id)
    assert len(world.requests("POST", "/issues/7/notes")) == 1  # one note, found again
    assert len(world.requests("POST", "/merge_requests")) == 1
    # To its end twice: the attempt killed at `forge:post` (before posting) and the one that
    # posted; the attempt after `forge:posted` kept that result instead of running again.
    assert log.count("optirunner worker: succeeded") == 2, log
    # Killed after the report was posted: the last attempt kept that result.
    assert "already ended (succeeded, report posted) in an earlier attempt" in log
    check_clean(serve, world, job_id)


def test_a_killed_only_attempt_is_brought_back_by_replay(
    serves: list[Serve], tmp_path: Path
) -> None:
    config = write_config(tmp_path, tiny_repo(tmp_path / "repo"), max_attempts=1)
    store = open_store(load_settings(config), migrate=True)
    faults = arm(tmp_path / "faults", "workspace:checkout")
    job_id = enqueue(store, "replay", "python -c 'import tiny.core'")
    serve = Serve(config, env={"OPTIRUNNER_FAULTS_DIR": str(faults)})
    serves.append(serve)
    serve.wait_ready()
    os.kill(reached(faults, "workspace:checkout", 60), signal.SIGKILL)  # baseline checked out
    wait_for(in_state(store, job_id, JobState.DEAD), 30, "the job to be dead")
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "jobs", "replay", job_id, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "the replayed job to succeed")
    job = store.get(job_id)
    assert (job.run, job.attempts, job.fence) == (2, 1, 2)
    worktrees = serve.settings.state_dir / "jobs" / job_id / "worktrees"
    assert not list(worktrees.glob("*"))
    assert "already exists" not in (worktrees.parent / "worker.log").read_text()


def test_serve_killed_inside_a_job_database_write(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve], tmp_path: Path
) -> None:
    config, store = sqlite_setup
    faults = arm(tmp_path / "faults", "store:write")  # the first write: serve claims the job
    job_id = enqueue(store, "dbwrite", "python -c 'import tiny.core'")
    first = Serve(config, env={"OPTIRUNNER_FAULTS_DIR": str(faults)})
    serves.append(first)  # (not ready: its readiness check waits on the write's lock)
    assert reached(faults, "store:write", 30) == first.proc.pid
    killed = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.wait()
    database = first.settings.state_dir / "jobs.db"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
    second = Serve(config)
    serves.append(second)
    second.wait_ready()
    job_dir = second.settings.state_dir / "jobs" / job_id
    wait_for(lambda: worker_pid(job_dir) is not None, 60, "the job's worker")
    measured("kill", victim="serve", point="store:write", recovery_s=time.monotonic() - killed)
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "the job to succeed")
    job = store.get(job_id)
    log = (job_dir / "worker.log").read_text()
    measured(
        "job", victim="serve", kills=1, state=job.state.value, attempts=job.attempts,
        runs_to_the_end=log.count("optirunner worker: succeeded"),
    )  # fmt: skip
    assert job.attempts == 1  # the claim inside the killed write never happened


def test_worker_killed_inside_a_spool_append(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve], tmp_path: Path
) -> None:
    config, store = sqlite_setup
    with config.open("a") as out:  # a receiver nobody listens on: events stay in the spool
        out.write(f'[telemetry.icarus]\nurl = "ws://127.0.0.1:{free_port()}"\ntoken = "t-1"\n')
    faults = arm(tmp_path / "faults", "spool:append")
    job_id = enqueue(store, "spool", "python -c 'import tiny.core'")
    serve = Serve(config, env={"OPTIRUNNER_FAULTS_DIR": str(faults)})
    serves.append(serve)
    serve.wait_ready()
    pid = reached(faults, "spool:append", 60)
    assert pid != serve.proc.pid  # a worker, writing the job's events
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    job_dir = serve.settings.state_dir / "jobs" / job_id
    wait_for(lambda: worker_pid(job_dir) not in {None, pid}, 60, "the next attempt")
    measured("kill", victim="worker", point="spool:append", recovery_s=time.monotonic() - killed)
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "the retry to succeed")
    log = (job_dir / "worker.log").read_text()
    measured(
        "job", victim="worker", kills=1, state="succeeded", attempts=store.get(job_id).attempts,
        runs_to_the_end=log.count("optirunner worker: succeeded"),
    )  # fmt: skip
    spools = list(serve.settings.state_dir.rglob("spool.db*"))
    assert not [p for p in spools if "corrupt" in p.name], spools
    (spool,) = [p for p in spools if p.name == "spool.db"]
    with sqlite3.connect(spool) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        payloads = [row[0] for row in db.execute("SELECT payload FROM events")]
    assert any('"name": "job"' in p and job_id in p for p in payloads)  # the retry's events
    assert serve.proc.poll() is None


def test_a_worker_started_just_before_serve_dies_does_not_run_on(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve]
) -> None:
    """The parent-death signal is set before the worker's interpreter starts."""
    config, store = sqlite_setup
    job_id = enqueue(store, "early", sleep_cmd(3))  # an orphan would still be running
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    workers: list[int] = []

    def started() -> bool:
        workers.extend(worker_pids(serve))
        return bool(workers)

    wait_for(started, 30, "a worker process")
    os.kill(serve.proc.pid, signal.SIGKILL)  # within milliseconds of the worker's start
    serve.wait()
    wait_for(lambda: not any(alive(p) for p in workers), 2, "the worker to die with serve")
    second = Serve(config)
    serves.append(second)
    second.wait_ready()
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "the job to succeed")
    log = (second.settings.state_dir / "jobs" / job_id / "worker.log").read_text()
    assert log.count("optirunner worker: succeeded") == 1, log  # only the retry ran it


def test_a_stale_worker_is_refused(sqlite_setup: tuple[Path, JobStore], tmp_path: Path) -> None:
    """A worker whose token is no longer the job's exits 75 and writes no report."""
    config, store = sqlite_setup
    job_id = enqueue(store, "stale", "python -c 'import tiny.core'")
    claimed = store.claim("someone-else", 60)
    assert claimed is not None
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "worker", job_id, "--config", str(config),
         "--fence", str(claimed.fence - 1)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 75, proc.stdout + proc.stderr
    assert "is stale" in proc.stderr
    assert "Traceback" not in proc.stderr
    job_dir = tmp_path / "state" / "jobs" / job_id
    assert not (job_dir / "report.json").exists()
