"""`amlocal model register|list|show|download|delete|tag|property`."""
from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .cli import add_json_flag, client_from, print_json, print_table
from .client import Client, ClientError
from .schemas.models import FRAMEWORKS


def register(sub) -> None:
    """Add the `model` command group to the parser."""
    model = sub.add_parser("model", help="registered models").add_subparsers(
        dest="model_command", required=True)
    p = model.add_parser("register", help="register a run's file/folder, or upload files")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", metavar="RUN_ID", help="register from this Completed run")
    source.add_argument("--file", nargs="+", type=Path, metavar="F",
                        help="files or folders to upload (a folder keeps its name)")
    p.add_argument("--path", help="file or folder among the run's files (default: the name)")
    p.add_argument("--name", required=True)
    p.add_argument("--framework", choices=FRAMEWORKS)
    p.add_argument("--framework-version")
    p.add_argument("--cpu", type=float)
    p.add_argument("--memory-gb", type=float)
    p.add_argument("--gpu", type=int)
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--property", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--description")
    p.add_argument("--sample-input", type=Path, help="JSON file holding a list of input rows")
    add_json_flag(p)
    p.set_defaults(func=register_command)
    p = model.add_parser("list", help="list model versions")
    p.add_argument("--name")
    p.add_argument("--tag", action="append", default=[], help="KEY or KEY=VALUE")
    p.add_argument("--property", action="append", default=[], help="KEY or KEY=VALUE")
    p.add_argument("--framework", choices=FRAMEWORKS)
    p.add_argument("--run", metavar="RUN_ID")
    p.add_argument("--latest", action="store_true", help="only the latest version of each name")
    add_json_flag(p)
    p.set_defaults(func=list_command)
    for name, func, help_ in (("show", show_command, "show NAME[:VERSION] (default latest)"),
                              ("delete", delete_command, "delete NAME:VERSION")):
        p = model.add_parser(name, help=help_)
        p.add_argument("model")
        add_json_flag(p)
        p.set_defaults(func=func)
    p = model.add_parser("download", help="download NAME[:VERSION] (a file, or a folder's zip)")
    p.add_argument("model")
    p.add_argument("-o", "--output", type=Path, help="target file (default: the served name)")
    p.set_defaults(func=download_command)
    p = model.add_parser("tag", help="add and remove tags of NAME:VERSION")
    p.add_argument("model")
    p.add_argument("--add", action="append", default=[], help="KEY=VALUE (repeatable)")
    p.add_argument("--remove", action="append", default=[], help="KEY (repeatable)")
    add_json_flag(p)
    p.set_defaults(func=tag_command)
    p = model.add_parser("property", help="add properties to NAME:VERSION (never changed)")
    p.add_argument("model")
    p.add_argument("--add", action="append", default=[], required=True, help="KEY=VALUE")
    add_json_flag(p)
    p.set_defaults(func=property_command)


# -- verbs others call (the quickstart registers the iris model through these) -----------------

def register_from_run(client: Client, run_id: str, name: str,
                      path: str = "outputs/model.joblib", framework: str | None = "ScikitLearn",
                      framework_version: str | None = None,
                      resource_configuration: dict | None = None, tags: dict | None = None,
                      properties: dict | None = None, description: str | None = None,
                      sample_input: list | None = None) -> dict:
    """Azure's run.register_model(...): POST /models with the run's file or folder."""
    body = _fields(name, framework, framework_version, resource_configuration, tags, properties,
                   description, sample_input)
    return client.post("/models", json={**body, "run_id": run_id, "path": path})


def register_files(client: Client, name: str, paths: list[Path], **fields: Any) -> dict:
    """Azure's Model.register(model_path=...): upload files; a folder keeps its own name."""
    entries = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            entries += [(f"{path.name}/{f.relative_to(path).as_posix()}", f)
                        for f in sorted(path.rglob("*")) if f.is_file()]
        elif path.is_file():
            entries.append((path.name, path))
        else:
            raise ClientError(None, f"{path} is neither a file nor a folder")
    config = _fields(name, fields.pop("framework", None), **fields)
    with ExitStack() as stack:
        files = [("files", (rel, stack.enter_context(open(f, "rb")))) for rel, f in entries]
        return client.post("/models", files=files, data={"config": json.dumps(config)})


def download_model(client: Client, name: str, version: int | str = "latest",
                   target: Path | None = None) -> Path:
    """Save a version's file (or its folder's zip) to `target`; returns the path written."""
    resp = client.request("GET", f"/models/{name}/versions/{version}/download", stream=True)
    served = resp.headers.get("Content-Disposition", "").rpartition("filename=")[2].strip('"')
    fallback = served or f"{name}-{version}"
    target = Path(target or fallback)
    if target.is_dir():
        target = target / fallback
    tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
    with open(tmp, "wb") as out:
        for chunk in resp.iter_content(chunk_size=1024 * 1024):
            out.write(chunk)
    os.replace(tmp, target)
    return target


def _fields(name: str, framework: str | None = None, framework_version: str | None = None,
            resource_configuration: dict | None = None, tags: dict | None = None,
            properties: dict | None = None, description: str | None = None,
            sample_input: list | None = None) -> dict:
    body: dict[str, Any] = {"name": name, "tags": tags or {}, "properties": properties or {}}
    for key, value in (("framework", framework), ("framework_version", framework_version),
                       ("resource_configuration", resource_configuration),
                       ("description", description), ("sample_input", sample_input)):
        if value is not None:
            body[key] = value
    return body


# -- commands ---------------------------------------------------------------------------------

def _pairs(values: list[str]) -> dict:
    return dict(v.partition("=")[::2] for v in values)


def _ref(text: str, need_version: bool = False) -> tuple[str, str]:
    name, sep, version = text.rpartition(":")
    if not sep:
        if need_version:
            raise ClientError(None, f"give the version too: {text}:VERSION")
        return text, "latest"
    return name, version


def _summary(model: dict) -> str:
    est = model.get("estimator") or {}
    what = (f"{est.get('class')} ({est.get('n_features_in')} features)" if est.get("status") == "ok"
            else f"introspection {est.get('status')}: {est.get('reason')}" if est else "")
    return f"{model['id']}  {model.get('framework') or ''}  {what}".rstrip()


def register_command(args) -> int:
    client = client_from(args)
    resources = {k: v for k, v in (("cpu", args.cpu), ("memory_in_gb", args.memory_gb),
                                   ("gpu", args.gpu)) if v is not None}
    sample = json.loads(args.sample_input.read_text()) if args.sample_input else None
    fields = dict(framework=args.framework, framework_version=args.framework_version,
                  resource_configuration=resources or None, tags=_pairs(args.tag),
                  properties=_pairs(args.property), description=args.description,
                  sample_input=sample)
    if args.run:
        model = register_from_run(client, args.run, args.name, args.path or args.name, **fields)
    else:
        model = register_files(client, args.name, args.file, **fields)
    print_json(model) if args.json else print(_summary(model))
    return 0


def list_command(args) -> int:
    params: dict[str, Any] = {"tag": args.tag, "property": args.property}
    for key, value in (("name", args.name), ("framework", args.framework), ("run_id", args.run)):
        if value:
            params[key] = value
    if args.latest:
        params["latest"] = "true"
    models = client_from(args).get("/models", params=params)["models"]
    if args.json:
        print_json(models)
    else:
        print_table(models, ["id", "framework", "run_id", "created_time"])
    return 0


def show_command(args) -> int:
    name, version = _ref(args.model)
    model = client_from(args).get(f"/models/{name}/versions/{version}")
    if args.json:
        print_json(model)
    else:
        print(_summary(model))
        for key in ("run_id", "created_time", "tags", "properties", "resource_configuration",
                    "environment", "files"):
            print(f"{key:>22}: {model.get(key)}")
    return 0


def download_command(args) -> int:
    name, version = _ref(args.model)
    print(download_model(client_from(args), name, version, args.output))
    return 0


def delete_command(args) -> int:
    name, version = _ref(args.model, need_version=True)
    model = client_from(args).request("DELETE", f"/models/{name}/versions/{version}").json()
    print_json(model) if args.json else print(f"deleted {model['id']}")
    return 0


def tag_command(args) -> int:
    name, version = _ref(args.model, need_version=True)
    model = client_from(args).request("PATCH", f"/models/{name}/versions/{version}/tags",
                                      json={"add": _pairs(args.add), "remove": args.remove}).json()
    print_json(model) if args.json else print(f"{model['id']}  tags: {model['tags']}")
    return 0


def property_command(args) -> int:
    name, version = _ref(args.model, need_version=True)
    model = client_from(args).request("PATCH", f"/models/{name}/versions/{version}/properties",
                                      json={"add": _pairs(args.add)}).json()
    print_json(model) if args.json else print(f"{model['id']}  properties: {model['properties']}")
    return 0
