"""`amlocal model register|list|show|download|delete|tag|property`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .client import Client
from .output import CommandError, json_option, print_fields, print_json, print_table
from .params import KEY_VALUE, REFERENCE, VERSIONED

# Azure ML's Model.Framework values (the service checks them too: service/models.py)
FRAMEWORKS = click.Choice(("Custom", "TensorFlow", "ScikitLearn", "Onnx", "TfKeras", "PyTorch",
                           "Multi"))
SHOWN = ("run_id", "created_time", "tags", "properties", "resource_configuration",
         "environment", "files")


def summary(model: dict) -> str:
    """One line: id, framework, and what introspection found."""
    est = model.get("estimator") or {}
    what = (f"{est.get('class')} ({est.get('n_features_in')} features)" if est.get("status") == "ok"
            else f"introspection {est.get('status')}: {est.get('reason')}" if est else "")
    return f"{model['id']}  {model.get('framework') or ''}  {what}".rstrip()


@click.group("model", help="registered models")
def models() -> None:
    pass


@models.command(help="register a run's file/folder, or upload files")
@click.option("--run", "run_id", metavar="RUN_ID", help="register from this Completed run")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), metavar="F",
              help="files or folders to upload (a folder keeps its name): --file A B ...")
@click.argument("more_files", nargs=-1, type=click.Path(path_type=Path), metavar="[F...]")
@click.option("--path", help="file or folder among the run's files (default: the name)")
@click.option("--name", required=True)
@click.option("--framework", type=FRAMEWORKS)
@click.option("--framework-version")
@click.option("--cpu", type=float)
@click.option("--memory-gb", type=float)
@click.option("--gpu", type=int)
@click.option("--tag", "tags", type=KEY_VALUE, multiple=True, help="(repeatable)")
@click.option("--property", "properties", type=KEY_VALUE, multiple=True, help="(repeatable)")
@click.option("--description")
@click.option("--sample-input", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file holding a list of input rows")
@json_option
def register(run_id: str | None, files: tuple[Path, ...], more_files: tuple[Path, ...],
             path: str | None, name: str, framework: str | None, framework_version: str | None,
             cpu: float | None, memory_gb: float | None, gpu: int | None,
             tags: tuple[tuple[str, str], ...], properties: tuple[tuple[str, str], ...],
             description: str | None, sample_input: Path | None, as_json: bool) -> None:
    if more_files and not files:
        raise click.UsageError(f"unexpected argument {str(more_files[0])!r} (files follow --file)")
    if bool(run_id) == bool(files):
        raise click.UsageError("give one of --run RUN_ID or --file F ...")
    resources = {k: v for k, v in (("cpu", cpu), ("memory_in_gb", memory_gb), ("gpu", gpu))
                 if v is not None}
    fields: dict[str, Any] = dict(
        framework=framework, framework_version=framework_version,
        resource_configuration=resources or None, tags=dict(tags), properties=dict(properties),
        description=description, sample_input=read_rows(sample_input) if sample_input else None)
    client = Client()
    if run_id:
        model = client.register_from_run(run_id, name, path or name, **fields)
    else:
        model = client.register_files(name, [*files, *more_files], **fields)
    print_json(model) if as_json else print(summary(model))


def read_rows(path: Path) -> list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CommandError(f"--sample-input {path}: {err}") from err


@models.command("list", help="list model versions")
@click.option("--name")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="(repeatable)")
@click.option("--property", "properties", multiple=True, metavar="KEY[=VALUE]",
              help="(repeatable)")
@click.option("--framework", type=FRAMEWORKS)
@click.option("--run", "run_id", metavar="RUN_ID")
@click.option("--latest", is_flag=True, help="only the latest version of each name")
@json_option
def list_models(name: str | None, tags: tuple[str, ...], properties: tuple[str, ...],
                framework: str | None, run_id: str | None, latest: bool, as_json: bool) -> None:
    params: dict[str, Any] = {"tag": list(tags), "property": list(properties)}
    for key, value in (("name", name), ("framework", framework), ("run_id", run_id)):
        if value:
            params[key] = value
    if latest:
        params["latest"] = "true"
    found = Client().get("/models", params=params)["models"]
    print_json(found) if as_json else print_table(found, ["id", "framework", "run_id",
                                                          "created_time"])


@models.command(help="show NAME[:VERSION] (default latest)")
@click.argument("model", type=REFERENCE)
@json_option
def show(model: tuple[str, str], as_json: bool) -> None:
    name, version = model
    found = Client().get(f"/models/{name}/versions/{version}")
    if as_json:
        print_json(found)
    else:
        print(summary(found))
        print_fields(found, SHOWN, width=22)


@models.command(help="download NAME[:VERSION] (a file, or a folder's zip)")
@click.argument("model", type=REFERENCE)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="target file (default: the served name)")
@json_option
def download(model: tuple[str, str], output: Path | None, as_json: bool) -> None:
    name, version = model
    target = Client().download_model(name, version, output)
    print_json({"model": f"{name}:{version}", "file": str(target)}) if as_json else print(target)


@models.command(help="delete NAME:VERSION")
@click.argument("model", type=VERSIONED)
@json_option
def delete(model: tuple[str, str], as_json: bool) -> None:
    name, version = model
    gone = Client().request("DELETE", f"/models/{name}/versions/{version}").json()
    print_json(gone) if as_json else print(f"deleted {gone['id']}")


@models.command(help="add and remove tags of NAME:VERSION")
@click.argument("model", type=VERSIONED)
@click.option("--add", type=KEY_VALUE, multiple=True, help="(repeatable)")
@click.option("--remove", multiple=True, metavar="KEY", help="(repeatable)")
@json_option
def tag(model: tuple[str, str], add: tuple[tuple[str, str], ...], remove: tuple[str, ...],
        as_json: bool) -> None:
    name, version = model
    found = Client().request("PATCH", f"/models/{name}/versions/{version}/tags",
                             json={"add": dict(add), "remove": list(remove)}).json()
    print_json(found) if as_json else print(f"{found['id']}  tags: {found['tags']}")


@models.command("property", help="add properties to NAME:VERSION (never changed)")
@click.argument("model", type=VERSIONED)
@click.option("--add", type=KEY_VALUE, multiple=True, required=True, help="(repeatable)")
@json_option
def add_property(model: tuple[str, str], add: tuple[tuple[str, str], ...],
                 as_json: bool) -> None:
    name, version = model
    found = Client().request("PATCH", f"/models/{name}/versions/{version}/properties",
                             json={"add": dict(add)}).json()
    print_json(found) if as_json else print(f"{found['id']}  properties: {found['properties']}")
