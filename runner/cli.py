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
            provider=provider,
            max_candidates=max_candidates,
            python=python,
            as_json=as_json,
            config=config,
            show_report=show_report,
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
) -> None:
    """Extract what TARGET functions of REPO need into a signed bundle and show it."""
    from runner.commands import bundle as command  # noqa: PLC0415 - keep start-up fast

    code = _guard(
        lambda: command.create(repo=repo, targets=target, as_json=as_json, out=out, config=config)
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
    return 3


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
