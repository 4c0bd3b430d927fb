"""What can be checked of the container files and pins without a Docker engine."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from alerter.cli.main import build_parser

ROOT = Path(__file__).parent.parent


def commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "==SUPPRESS==" or a.nargs == "A...")
    return set(sub.choices)  # type: ignore[union-attr]


def test_compose_services_commands_and_health() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "api", "worker"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(v.startswith("redis-data:") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    known = commands()
    for name in ("api", "worker"):
        service = services[name]
        assert service["image"] == "alerter:local" and service["build"] == "."
        assert service["command"][0] in known
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:6379")
        assert "./rules:/app/rules:ro" in service["volumes"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["env_file"][0]["path"] == ".env"
    assert services["api"]["command"] == ["api"] and services["worker"]["command"] == ["worker"]
    assert "ports" not in services["worker"]  # scalable with --scale worker=N
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "alerter", "worker", "--check"]
    worker_flags = {
        option
        for action in build_parser()._subparsers._group_actions[0].choices["worker"]._actions  # type: ignore[union-attr]
        for option in action.option_strings
    }
    assert "--check" in worker_flags


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None and "slim" in base.group(1)
    assert len(stages) >= 2 and all(s == "${PYTHON_IMAGE}" for s in stages)
    assert "@sha256:" in text  # how to pin it by digest is said
    # Numeric, so Kubernetes' runAsNonRoot can verify it; the state folder is the user's.
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert "chown 10001:10001 /app /app/.alerter" in text
    assert "ALERTER_STATE_DIR=/app/.alerter" in text
    # One healthcheck for both commands: /health for the api, the heartbeat for a worker.
    assert "HEALTHCHECK" in text and "/health" in text and "'worker', '--check'" in text
    probe = re.search(r'CMD \["python", "-c", (".*")\]', text)
    assert probe is not None
    compile(json.loads(probe.group(1)), "healthcheck", "exec")  # the probe is valid Python
    assert "-c constraints.txt" in text
    assert re.search(r'^ENTRYPOINT \["alerter"\]', text, re.M)
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in copied.split():
            assert (ROOT / source).exists(), source


def test_entry_point_and_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["alerter"] == "alerter.cli:main"
    pins = (ROOT / "constraints.txt").read_text()
    assert "://" not in pins and "--index-url" not in pins
    pinned = {
        line.split("==")[0].lower().replace("_", "-") for line in pins.splitlines() if "==" in line
    }
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = re.split(r"[<>=\[ ]", requirement)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in constraints.txt"


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ci_names_test_files_that_exist() -> None:
    """.ci/run re-runs chosen files against Redis 7: a moved file must not vanish from it."""
    named = re.findall(r"tests/[\w/]+\.py", (ROOT / ".ci" / "run").read_text())
    assert named and all((ROOT / path).is_file() for path in named), named


def test_compose_never_publishes_an_unsigned_intake() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    api = compose["services"]["api"]
    assert api["ports"]  # published...
    secret = api["environment"]["ALERTER_WEBHOOK_SECRET"]
    assert secret.startswith("${ALERTER_WEBHOOK_SECRET:?")  # ...so compose refuses without it
    assert "ALERTER_ALLOW_UNSIGNED" not in api["environment"]
    worker = compose["services"]["worker"]
    assert worker["environment"]["ALERTER_WORKER_METRICS_HOST"] == "0.0.0.0"


def test_every_data_file_of_the_package_is_in_its_package_data() -> None:
    """A wheel (the image installs one) holds only the files package-data names: a template,
    Lua script or static file left out of it works from the checkout and fails installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = {
        path
        for package, patterns in config["package-data"].items()
        for pattern in patterns
        for path in (ROOT / package.replace(".", "/")).glob(pattern)
    }
    data = {
        path
        for path in (ROOT / "alerter").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert data - shipped == set(), sorted(str(p.relative_to(ROOT)) for p in data - shipped)
    assert (ROOT / "alerter/render/templates/alert_email.html") in shipped
