"""The Docker image and docker-compose.yml, without a container engine: the image's install steps are the README's
quick start word for word and they work, its health check asks /api/status, and the compose file wires two nodes to
one PostgreSQL and one Redis with the same secrets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cli.test_serve import free_port
from tollway.storage.database import database_url

REPO = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1] if " " in line else "") for line in lines]


def quick_start() -> str:
    """The command of the README's quick start."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n", 1)[0]


def install_step() -> str:
    [step] = [args for name, args in dockerfile() if name == "RUN" and "pip install" in args]
    return step


def test_the_image_installs_with_the_quick_start_commands() -> None:
    """The image runs exactly the quick start's install commands, on a slim Python, as a non-root user, with /data
    as its volume, `tollway serve` as its entry point and a health check on /api/status."""
    assert quick_start() == install_step() + " && .venv/bin/tollway serve"
    instructions = dict(dockerfile())
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions["FROM"])
    assert instructions["USER"] == "tollway" and instructions["VOLUME"] == "/data"
    assert instructions["ENTRYPOINT"] == '["tollway", "serve"]' and "/api/status" in instructions["HEALTHCHECK"]
    env = dict(re.findall(r"(\w+)=(\S+)", instructions["ENV"]))
    assert env["TOLLWAY_DATA_DIR"] == "/data" and env["SQLITE_PATH"] == "/data/tollway.db"


def test_the_image_steps_work_and_its_health_check_passes(tmp_path: Path) -> None:
    """Run the image's steps as written (COPY, the install, then the entry point with the image's environment) in
    a directory standing in for the image, and the HEALTHCHECK command against it."""
    app, data = tmp_path / "app", tmp_path / "data"
    for name, args in dockerfile():
        if name == "COPY":
            *sources, target = args.split()
            destination = app / target.removeprefix("./") if target != "./" else app
            for source in sources:
                found = REPO / source
                if found.is_dir():
                    shutil.copytree(found, destination, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
                else:
                    destination.mkdir(parents=True, exist_ok=True)
                    shutil.copy(found, destination / found.name)
    installed = subprocess.run(["bash", "-c", install_step()], cwd=app, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    instructions = dict(dockerfile())
    image_env = {key: value.replace("/data", str(data)) for key, value in
                 re.findall(r"(\w+)=(\S+)", instructions["ENV"]) if key != "PATH"}
    port = free_port()
    env = {**os.environ, **image_env, "PORT": str(port), "ENCRYPTION_KEY": "image-test", "WORKERS": "1",
           "PATH": f"{app / '.venv' / 'bin'}:{os.environ['PATH']}"}
    data.mkdir()
    entry: list[str] = yaml.safe_load(instructions["ENTRYPOINT"])
    server = subprocess.Popen(entry, cwd=data, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        health = instructions["HEALTHCHECK"].split("CMD", 1)[1].strip()
        command: list[str] = [sys.executable if part == "python3" else part for part in yaml.safe_load(health)]
        deadline = time.monotonic() + 120
        while subprocess.run(command, env=env, capture_output=True, timeout=30).returncode != 0:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/api/status").json()["success"] is True
        assert (data / "tollway.db").is_file()
    finally:
        server.terminate()
        server.wait(60)


def test_compose_runs_two_nodes_on_one_postgres_and_redis() -> None:
    """Two Tollway services with the same secrets, database and Redis, each with its own /data volume; the DSN is
    one Tollway reads."""
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"tollway-1", "tollway-2", "postgres", "redis"}
    nodes = [services["tollway-1"], services["tollway-2"]]
    shared = ("SQL_DSN", "REDIS_CONN_STRING", "SESSION_SECRET", "ENCRYPTION_KEY")
    assert all(nodes[0]["environment"][key] == nodes[1]["environment"][key] for key in shared)
    environment = nodes[0]["environment"]
    url = database_url(environment["SQL_DSN"])
    assert (url.get_backend_name(), url.host, url.database) == ("postgresql", "postgres", "tollway")
    assert url.password == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert environment["REDIS_CONN_STRING"].startswith("redis://redis:")
    assert nodes[1]["environment"]["NODE_TYPE"] == "slave"
    for node in nodes:
        assert node["build"] == "." and any(volume.endswith(":/data") for volume in node["volumes"])
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {node["ports"][0].split(":")[1] for node in nodes} == {"3000"}
