"""The `amlocal` command line: `serve`, `quickstart`, and one click group per resource.

A ClientError (the service refused, or did not answer) or a bad AMLOCAL_* setting ends any
command as `amlocal: error: <message>` on stderr and exit code 1; Ctrl-C ends it with 130.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from service.serve import serve as serve_forever
from service.settings import SettingsError, load_settings

from .client import ClientError
from .computes import computes
from .container import container
from .deployments import deploy, deployments, score
from .environments import environments
from .models import models
from .output import CommandError, exit_with
from .quickstart import QuickstartError, quickstart as run_quickstart
from .runs import runs
from .sweeps import sweeps


class AmlocalGroup(click.Group):
    """The root group: turns the errors every command may meet into their line and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as err:
            raise CommandError(err.message) from err
        except SettingsError as err:
            raise CommandError(str(err)) from err
        except KeyboardInterrupt:
            ctx.exit(130)


@click.group(cls=AmlocalGroup, help="Azure ML's scikit-learn loop, self-hosted: train, track, "
                                    "register, deploy, score.")
def cli() -> None:
    pass


@cli.command(help="start the control API and the agent")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="workspace folder (AMLOCAL_WORKSPACE)")
def serve(host: str, port: int, workspace: Path | None) -> None:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname).1s %(name)s - %(message)s")
    exit_with(serve_forever(load_settings(workspace=workspace), host, port))


@cli.command(help="start a service, train iris, show the results")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="workspace folder (AMLOCAL_WORKSPACE)")
@click.option("--port", type=int, help="the service's port (default 5000 if free, else any)")
@click.option("--keep-running", is_flag=True, help="leave the service running at the end")
def quickstart(workspace: Path | None, port: int | None, keep_running: bool) -> None:
    try:
        run_quickstart(workspace=workspace, port=port, keep_running=keep_running)
    except QuickstartError as err:
        raise CommandError(str(err)) from err


for command in (runs, models, deploy, deployments, score, environments, sweeps, computes,
                container):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point (`amlocal`, `python -m service.cli`): click parses, runs and exits."""
    cli.main(args=argv, prog_name="amlocal")
