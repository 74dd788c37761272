"""Planting: each generated secret written into a real file the way code, config and notebooks
hold secrets (string literals, assignments, comments, `.env` lines, JSON and YAML fields, notebook
cells, connection strings and URLs, embedded key blocks), one line inserted at a line boundary."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from tests.secrets.generate import GENERATORS, Keys, Planted

#: how the secret appears in the line (some kinds only make sense inside a URL or connection string)
WRAP = {
    "azure_storage_key": "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={v};EndpointSuffix=core.windows.net",
    "azure_sas_token": "https://acmestore.blob.core.windows.net/data/x.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig={v}",
    "slack_webhook": "https://hooks.slack.com/services/{v}",
    "basic_auth_password": "postgresql://app_user:{v}@db.prod.acme-corp.io:5432/orders",
}

#: line templates per host language: {name} the assignment name, {text} the wrapped secret
TEMPLATES = {
    "py": (
        '{name} = "{text}"\n',
        'client = make_client({lname}="{text}")\n',
        "# {name}: {text}\n",
        "os.environ['{name}'] = '{text}'\n",
        '    settings = {{"{lname}": "{text}"}}\n',
    ),
    "c": (
        'static const char *k_{lname} = "{text}";\n',
        "// {name}={text}\n",
        '#define {name} "{text}"\n',
        '    std::string {lname} = "{text}";\n',
    ),
    "yaml": ("{lname}: {text}\n", '  {lname}: "{text}"\n', "# {lname}: {text}\n"),
    "json": ('  "{lname}": "{text}",\n',),
    "env": ("{name}={text}\n", 'export {name}="{text}"\n'),
}

LANG = {
    ".py": "py",
    ".h": "c",
    ".hpp": "c",
    ".cuh": "c",
    ".cpp": "c",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}


@dataclass
class PlantedFile:
    path: str
    text: str
    secrets: list[Planted]


def insert_line(text: str, line: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    at = rng.randrange(len(lines) + 1)
    if at and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    return "".join(lines[:at]) + line + "".join(lines[at:])


def render(kind: str, name: str, value: str, lang: str, rng: random.Random) -> str:
    text = WRAP.get(kind, "{v}").format(v=value)
    if kind == "password" and rng.random() < 0.3:  # a connection string in code or config
        text = f"Server=db01;Database=orders;User Id=svc_orders;Password={value};"
        name = "connection_string"
    template = rng.choice(TEMPLATES[lang])
    return template.format(name=name.upper(), lname=name.lower(), text=text)


def key_in_code(key: str, lang: str, rng: random.Random) -> str:
    """A private key embedded in code: a triple-quoted string, an escaped one-line string, or C
    string concatenation."""
    if lang == "py" and rng.random() < 0.5:
        return f'TEST_KEY = """{key}\n"""\n'
    if lang == "c":
        body = "".join(f'    "{line}\\n"\n' for line in key.splitlines())
        return f"static const char kTestKey[] =\n{body};\n"
    escaped = key.replace("\n", "\\n")
    return {"yaml": f'private_key: "{escaped}"\n', "json": f'  "private_key": "{escaped}",\n'}.get(
        lang, f'PRIVATE_KEY = "{escaped}"\n'
    )


def notebook(cells: list[str]) -> str:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": c.splitlines(True),
            }
            for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1)


def plant(hosts: list[tuple[str, str]], per_kind: int, seed: int, keys: Keys) -> list[PlantedFile]:
    """`per_kind` secrets of every kind spread over copies of the `hosts` (path, text), plus
    `.env` files, notebooks, GCP service-account JSON files and whole key files."""
    rng = random.Random(seed)
    out: list[PlantedFile] = []
    host_i = 0
    for kind, (name, gen) in GENERATORS.items():
        for _ in range(per_kind):
            value = gen(rng)
            path, text = hosts[host_i % len(hosts)]
            host_i += 1
            lang = LANG[path[path.rfind(".") :]]
            planted = Planted(kind, value, name)
            out.append(
                PlantedFile(path, insert_line(text, render(kind, name, value, lang, rng), rng), [planted])
            )
    # keys embedded in code of each language
    for i in range(per_kind * 2):
        path, text = hosts[(host_i + i) % len(hosts)]
        key = keys.private_key(rng)
        lang = LANG[path[path.rfind(".") :]]
        out.append(
            PlantedFile(
                path,
                insert_line(text, key_in_code(key, lang, rng), rng),
                [Planted("private_key", _body(key), "key", True)],
            )
        )
    # .env files and notebooks with several secrets each
    for i in range(per_kind):
        secrets, lines = [], []
        for kind in rng.sample(sorted(GENERATORS), 4):
            name, gen = GENERATORS[kind]
            value = gen(rng)
            secrets.append(Planted(kind, value, name))
            lines.append(render(kind, name, value, "env", rng))
        out.append(
            PlantedFile(f"deploy/{i}/.env", "# deployment settings\nDEBUG=false\n" + "".join(lines), secrets)
        )
        secrets, cells = [], ["import os\nimport requests\n"]
        for kind in rng.sample(sorted(GENERATORS), 3):
            name, gen = GENERATORS[kind]
            value = gen(rng)
            secrets.append(Planted(kind, value, name))
            cells.append(render(kind, name, value, "py", rng) + "resp = requests.get(URL, timeout=10)\n")
        out.append(PlantedFile(f"notebooks/explore_{i}.ipynb", notebook(cells), secrets))
    # GCP service-account JSON files and whole key files (dropped, not redacted)
    for i in range(per_kind):
        sa = keys.gcp_service_account(rng)
        pem = json.loads(sa)["private_key"]
        out.append(
            PlantedFile(
                f"creds/sa-{i}.json", sa, [Planted("gcp_service_account", _body(pem), "private_key", True)]
            )
        )
        key = keys.private_key(rng)
        out.append(
            PlantedFile(f"keys/id_{i}.pem", key + "\n", [Planted("private_key", _body(key), "key", True)])
        )
    return out


def _body(key: str) -> str:
    """The longest line of a key block: what must not survive anywhere (the BEGIN line may)."""
    return max(key.splitlines(), key=len)
