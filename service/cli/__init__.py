"""The `amlocal` command line (click) and the HTTP client it speaks through.

main.py      the root group, `serve`, `quickstart`, the entry point `main()`
runs.py, models.py, deployments.py, environments.py, sweeps.py
             one click group per resource (plus `deploy` and `score`); they only translate
client.py    the control API's HTTP client and the verbs commands and the quickstart share
output.py    --json, the table printer, field lists, the `amlocal: error:` line
params.py    KEY=VALUE and NAME[:VERSION] parameter types
quickstart.py  the whole loop, end to end, on a fresh service

Imports point one way: main → command modules and quickstart → client, output, params.
"""
