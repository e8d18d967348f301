"""The `optirunner` command line: parse options, load settings, call `commands/`.

One error boundary: a known error prints one line and exits 1; an unexpected one exits 3
and leaves a crash log; Ctrl-C exits 130.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from runner import __version__
from runner.errors import OptirunnerError

app = typer.Typer(
    name="optirunner",
    help="Propose, verify and report faster versions of Python functions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default /etc/optirunner/config.toml)"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"optirunner {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """optirunner: a self-hosted code optimization runner."""


@app.command()
def optimize(
    repo: Annotated[Path, typer.Argument(help="The project folder (a git checkout or a folder).")],
    target: Annotated[
        list[str],
        typer.Option(
            "--target", "-t", help="path/to/module.py::function or ::Class.method; repeatable"
        ),
    ],
    test_cmd: Annotated[
        str | None,
        typer.Option("--test-cmd", help="Test command [default: python -m pytest -x -q]"),
    ] = None,
    bench_cmd: Annotated[
        str | None,
        typer.Option("--bench-cmd", help="Benchmark command, run with OPTIRUNNER_TARGET set"),
    ] = None,
    workload: Annotated[
        str | None,
        typer.Option(
            "--workload",
            help="python script.py ... / python -m mod ...: a realistic run whose calls of "
            "the targets are recorded, compared and timed",
        ),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Candidate provider [rules]")
    ] = None,
    max_candidates: Annotated[
        int | None, typer.Option("--max-candidates", min=1, help="Candidates per target [8]")
    ] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Interpreter for the project's commands")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print report.json instead of tables")
    ] = False,
    show_report: Annotated[
        bool, typer.Option("--report", help="Also print report.md after the summary")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="AI providers: model or deployment name")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="AI providers: API endpoint (e.g. http://host:8000/v1)"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Optimize TARGET functions of REPO: propose, verify, measure, report."""
    from runner.commands import optimize as command  # noqa: PLC0415 - keep start-up fast

    code = _guard(
        lambda: command.run(
            repo=repo,
            targets=target,
            test_cmd=test_cmd,
            bench_cmd=bench_cmd,
            workload=workload,
            provider=provider,
            max_candidates=max_candidates,
            python=python,
            as_json=as_json,
            config=config,
            show_report=show_report,
            model=model,
            base_url=base_url,
        )
    )
    raise typer.Exit(code)


bundle_app = typer.Typer(
    help="Show, write and verify exactly what leaves this host (the signed code bundle).",
    no_args_is_help=True,
)
app.add_typer(bundle_app, name="bundle")

TargetOption = Annotated[
    list[str],
    typer.Option(
        "--target", "-t", help="path/to/module.py::function or ::Class.method; repeatable"
    ),
]


@bundle_app.command("create")
def bundle_create(
    repo: Annotated[Path, typer.Argument(help="The project folder.")],
    target: TargetOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder [a new job folder]")
    ] = None,
    config: ConfigOption = None,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print the exact request the model would get")
    ] = False,
    provider: Annotated[
        str | None, typer.Option("--provider", help="AI provider for --show-prompt [settings]")
    ] = None,
) -> None:
    """Extract what TARGET functions of REPO need into a signed bundle and show it."""
    from runner.commands import bundle as command  # noqa: PLC0415 - keep start-up fast

    code = _guard(
        lambda: command.create(
            repo=repo,
            targets=target,
            as_json=as_json,
            out=out,
            config=config,
            show_prompt=show_prompt,
            provider=provider,
        )
    )
    raise typer.Exit(code)


@bundle_app.command("verify")
def bundle_verify(
    path: Annotated[Path, typer.Argument(help="bundle.zip or the bundle/ folder")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="PEM public key [<state_dir>/keys/bundle-signing.pub]"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check the signature and every file of a bundle; exit 1 on any change."""
    from runner.commands import bundle as command  # noqa: PLC0415 - keep start-up fast

    code = _guard(lambda: command.verify(path=path, public_key=public_key, config=config))
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind [service.host: 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [service.port: 8480]")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the service: webhooks, job queue and worker processes, until SIGTERM."""
    from runner.commands import serve as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.run(config=config, host=host, port=port)))


@app.command(hidden=True)
def worker(
    job_id: Annotated[str, typer.Argument(help="The queued job to run.")],
    config: ConfigOption = None,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Only try again to post the job's pending report."),
    ] = False,
    fence: Annotated[
        int | None,
        typer.Option("--fence", help="The token of the claim this attempt runs under."),
    ] = None,
) -> None:
    """Run one job (started by `optirunner serve`, one process per job)."""
    from runner.commands import worker as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(
        _guard(
            lambda: command.run(job_id=job_id, config=config, report_only=report_only, fence=fence)
        )
    )


jobs_app = typer.Typer(help="Inspect and manage queued and finished jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
JobIdArg = Annotated[str, typer.Argument(help="The job id (see `optirunner jobs list`).")]


def _job_action(action: str, job_id: str, config: Path | None) -> None:
    """Run `runner.commands.jobs.<action>(job_id, config)` and exit with its code."""
    from runner.commands import jobs as command  # noqa: PLC0415 - keep start-up fast

    handler: Callable[..., int] = getattr(command, action)
    raise typer.Exit(_guard(lambda: handler(job_id=job_id, config=config)))


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        str | None,
        typer.Option("--state", help="queued, running, succeeded, failed, cancelled or dead"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 50,
    config: ConfigOption = None,
) -> None:
    """List the newest jobs."""
    from runner.commands import jobs as command  # noqa: PLC0415 - keep start-up fast

    code = _guard(
        lambda: command.list_jobs(state=state, as_json=as_json, limit=limit, config=config)
    )
    raise typer.Exit(code)


@jobs_app.command("show")
def jobs_show(job_id: JobIdArg, config: ConfigOption = None) -> None:
    """Show one job's record (JSON) and its files."""
    _job_action("show", job_id, config)


@jobs_app.command("logs")
def jobs_logs(job_id: JobIdArg, config: ConfigOption = None) -> None:
    """Print the worker log of a job."""
    _job_action("logs", job_id, config)


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobIdArg, config: ConfigOption = None) -> None:
    """Cancel a queued or running job."""
    _job_action("cancel", job_id, config)


@jobs_app.command("replay")
def jobs_replay(job_id: JobIdArg, config: ConfigOption = None) -> None:
    """Requeue a dead, failed, cancelled or succeeded job."""
    _job_action("replay", job_id, config)


tokens_app = typer.Typer(
    help="API and dashboard tokens: add, list, revoke (stored as hashes).", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("add")
def tokens_add(
    name: Annotated[
        str, typer.Option("--name", help="Who or what uses it (e.g. alice, prometheus)")
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="metrics (scrapes /metrics), viewer (reads jobs and pages), operator (also "
            "cancels and replays through the API)",
        ),
    ] = "viewer",
    config: ConfigOption = None,
) -> None:
    """Create a token and print it (once: only its hash is kept)."""
    from runner.commands import tokens as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.add(name=name, role=role, config=config)))


@tokens_app.command("list")
def tokens_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """List the tokens (ids, names, roles, last use; never the values)."""
    from runner.commands import tokens as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.list_tokens(as_json=as_json, config=config)))


@tokens_app.command("revoke")
def tokens_revoke(
    ref: Annotated[str, typer.Argument(help="The token's id or name (see `tokens list`)")],
    config: ConfigOption = None,
) -> None:
    """Revoke a token; its dashboard sessions end with it."""
    from runner.commands import tokens as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.revoke(ref=ref, config=config)))


db_app = typer.Typer(help="The job database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Run the database migrations up to the newest revision."""
    from runner.commands import jobs as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.db_upgrade(config=config)))


traces_app = typer.Typer(
    help="Job traces (redacted spans): list, show a timeline, flush the spool.",
    no_args_is_help=True,
)
app.add_typer(traces_app, name="traces")


@traces_app.command("list")
def traces_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 50,
    config: ConfigOption = None,
) -> None:
    """List the newest jobs' traces: start, duration, spans, errors, status."""
    from runner.commands import traces as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(
        _guard(lambda: command.list_traces(as_json=as_json, limit=limit, config=config))
    )


@traces_app.command("show")
def traces_show(
    job_id: JobIdArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """Show a job's trace as a timeline: offset, duration, span, status, key attributes."""
    from runner.commands import traces as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.show(job_id=job_id, as_json=as_json, config=config)))


@traces_app.command("flush")
def traces_flush(
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, help="Tries per sink before giving up")
    ] = 3,
    config: ConfigOption = None,
) -> None:
    """Ship the telemetry spool to every configured sink now; exit 1 if one is unreachable."""
    from runner.commands import traces as command  # noqa: PLC0415 - keep start-up fast

    raise typer.Exit(_guard(lambda: command.flush(attempts=attempts, config=config)))


@app.command("icarus-receiver")
def icarus_receiver(
    db: Annotated[Path, typer.Option("--db", help="SQLite file the events are stored in")],
    host: Annotated[str, typer.Option("--host", help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free port)")] = 8765,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="Accepted runner tokens, one a line [env OPTIRUNNER_ICARUS_RECEIVER_TOKENS]",
        ),
    ] = None,
    web_host: Annotated[
        str, typer.Option("--web-host", help="Address of the read-only trace pages")
    ] = "127.0.0.1",
    web_port: Annotated[
        int, typer.Option("--web-port", min=0, help="Port of the trace pages (0: any free port)")
    ] = 8766,
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the trace pages")] = False,
) -> None:
    """Run the reference Icarus receiver (stores to SQLite, dedupes by event id) and its
    read-only trace pages."""
    from runner.config import read_environ  # noqa: PLC0415 - keep start-up fast
    from runner.telemetry import receiver  # noqa: PLC0415 - keep start-up fast

    code = _guard(
        lambda: receiver.run_command(
            db=db,
            host=host,
            port=port,
            token_file=token_file,
            environ=read_environ(),
            web_host=web_host,
            web_port=None if no_web else web_port,
        )
    )
    raise typer.Exit(code)


@app.command()
def configure(
    gitlab_url: Annotated[str | None, typer.Option("--gitlab-url", help="GitLab base URL")] = None,
    gitlab_token: Annotated[
        str | None,
        typer.Option("--gitlab-token", envvar="OPTIRUNNER_GITLAB_TOKEN", help="GitLab token"),
    ] = None,
    jira_url: Annotated[str | None, typer.Option("--jira-url", help="Jira base URL")] = None,
    jira_token: Annotated[
        str | None,
        typer.Option("--jira-token", envvar="OPTIRUNNER_JIRA_TOKEN", help="Jira API token"),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            "--webhook-secret",
            envvar="OPTIRUNNER_WEBHOOK_SECRET",
            help="Webhook secret [generated when none is stored]",
        ),
    ] = None,
    icarus_url: Annotated[str | None, typer.Option("--icarus-url", help="Icarus URL")] = None,
    icarus_token: Annotated[
        str | None,
        typer.Option("--icarus-token", envvar="OPTIRUNNER_ICARUS_TOKEN", help="Icarus token"),
    ] = None,
    ai_api_key: Annotated[
        str | None,
        typer.Option("--ai-api-key", envvar="OPTIRUNNER_AI_API_KEY", help="AI provider API key"),
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="AI provider")] = None,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="URL GitLab/Jira reach this runner at")
    ] = None,
    config_dir: Annotated[
        Path, typer.Option("--config-dir", help="Where config.toml and the marker go")
    ] = Path("/etc/optirunner"),
    credstore_dir: Annotated[
        Path, typer.Option("--credstore-dir", help="Where systemd-creds files go")
    ] = Path("/etc/credstore.encrypted"),
    store: Annotated[
        str, typer.Option("--secret-store", help="auto | systemd-creds | keyring")
    ] = "auto",
    keyring_backend: Annotated[
        str | None,
        typer.Option("--keyring-backend", help="Keyring backend class, e.g. keyrings.alt.file."),
    ] = None,
    with_key: Annotated[
        str, typer.Option("--with-key", help="systemd-creds key: auto | host | tpm2 | ...")
    ] = "auto",
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Never prompt (automation)")
    ] = False,
) -> None:
    """Write config.toml and store the secrets (systemd credentials or a named keyring).

    Secrets are best passed as OPTIRUNNER_* variables: command lines are visible in `ps`.
    """
    from runner.commands import configure as command  # noqa: PLC0415 - keep start-up fast

    given = {
        "gitlab_token": gitlab_token,
        "jira_token": jira_token,
        "webhook_secret": webhook_secret,
        "icarus_token": icarus_token,
        "ai_api_key": ai_api_key,
    }
    urls = {"gitlab_url": gitlab_url, "jira_url": jira_url, "icarus_url": icarus_url}
    answers = command.Answers(
        provider=provider,
        urls={k: v for k, v in urls.items() if v},
        secrets={k: v for k, v in given.items() if v},
        public_url=public_url,
    )
    code = _guard(
        lambda: command.run(
            answers=answers,
            config_dir=config_dir,
            credstore_dir=credstore_dir,
            secret_store=store,
            keyring_backend=keyring_backend,
            with_key=with_key,
            interactive=not non_interactive,
        )
    )
    raise typer.Exit(code)


@app.command()
def doctor(
    config: ConfigOption = None,
    credstore_dir: Annotated[
        Path, typer.Option("--credstore-dir", help="Where systemd-creds files are")
    ] = Path("/etc/credstore.encrypted"),
) -> None:
    """Check this host: settings, secrets, state, database, sandbox, tools, service user."""
    from runner.commands import doctor as command  # noqa: PLC0415 - keep start-up fast
    from runner.config import read_environ  # noqa: PLC0415 - the environment is passed down

    code = _guard(
        lambda: command.run(config=config, environ=read_environ(), credstore=credstore_dir)
    )
    raise typer.Exit(code)


def _guard(call: Callable[[], int]) -> int:
    """The error boundary around every command."""
    try:
        return int(call())
    except KeyboardInterrupt:
        err.print("optirunner: interrupted")
        return 130
    except OptirunnerError as exc:
        # soft_wrap: the reason stays one line whatever the terminal width.
        err.print(f"optirunner: error: {exc}", markup=False, soft_wrap=True)
        return exc.exit_code
    except Exception:
        return _crash()


def _crash() -> int:
    fd, path = tempfile.mkstemp(prefix="optirunner-crash-", suffix=".log")
    with open(fd, "w", encoding="utf-8") as handle:
        traceback.print_exc(file=handle)
    err.print(f"optirunner: internal error (a bug); details in {path}", markup=False)
    _report_crash(sys.exc_info()[1])
    return 3


def _report_crash(exc: BaseException | None) -> None:
    """Send the crash to Sentry (redacted by its before_send) when the command started it.

    Sentry runs only if `init_sentry` was called (serve, worker, with a DSN); otherwise the
    module was never imported and nothing is loaded here. Reporting never hides the crash.
    """
    sentry = sys.modules.get("runner.telemetry.sentry")
    if exc is None or sentry is None:
        return
    try:
        sentry.capture_exception(exc)
        sentry.flush()
    except Exception as problem:  # the crash log already has the details
        err.print(f"optirunner: crash not reported to Sentry: {problem}", markup=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
