"""The README's "Five minutes to a first alert", run as written, in order, in a fresh copy
of the project: the shell blocks are taken from the README itself, so the page cannot drift
from what works."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import child_env

ROOT = Path(__file__).resolve().parents[1]
PORTS = (8000, 8081, 8082)  # the ones the README names


def first_alert_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[
        text.index("## Five minutes to a first alert") : text.index(
            "\n## ", text.index("## Five minutes") + 5
        )
    ]
    blocks = re.findall(r"^( *)```sh\n(.*?)^\1```", section, re.M | re.S)
    return ["\n".join(line[len(indent) :] for line in body.splitlines()) for indent, body in blocks]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fresh_copy(target: Path) -> None:
    """The committed files (a fresh clone's), beside this checkout's .venv."""
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")


def test_the_first_alert_snippets_run_as_written(tmp_path: Path) -> None:
    blocks = first_alert_blocks()
    assert len(blocks) == 3 and "make run &" in blocks[-1]
    if busy := [port for port in PORTS if port_in_use(port)]:
        pytest.skip(f"ports the README names are in use here: {busy}")
    if shutil.which("curl") is None:
        pytest.skip("curl, which the README uses, is not installed")
    project = tmp_path / "alerter"
    project.mkdir()
    fresh_copy(project)
    # `make run` must find .venv ready (make test just made it): it must not install into
    # the shared .venv from this copy.
    plan = subprocess.run(["make", "-n", "run"], cwd=project, capture_output=True, text=True)
    if "pip install" in plan.stdout:
        pytest.skip(".venv is older than the pins: run `make test` first")
    script = "set -eu\n" + "\n".join(blocks) + "\n"
    env = {
        k: v for k, v in child_env().items() if not k.startswith(("ALERTER_", "DIGA_", "REDIS_"))
    }
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        shell = subprocess.Popen(
            ["bash", "-c", script],
            cwd=project,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert shell.wait(90) == 0, output.read_text()
        deadline = time.monotonic() + 30
        while "=== alert received ===" not in output.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        said = output.read_text()
    finally:
        os.killpg(shell.pid, signal.SIGTERM)  # the stand-ins and `make run`, started with &
        time.sleep(1)
        with_children = subprocess.run(["pgrep", "-g", str(shell.pid)], capture_output=True)
        if with_children.stdout:
            os.killpg(shell.pid, signal.SIGKILL)
    assert '"status":"queued"' in said.replace(" ", ""), said
    assert "=== alert received ===" in said and "transfer-failed" in said, said
    env_file = (project / ".env").read_text()
    assert "DIGA_API_KEY=" in env_file and "SLACK_OPS_URL=" in env_file
