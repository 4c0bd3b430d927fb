"""deploy/kubernetes, checked without a cluster: every manifest against the Kubernetes API's
own schemas (kubernetes-validate), then what a schema cannot see: selectors that select,
probes that probe, a locked-down security context, names that exist, settings that exist,
secrets the api replicas share, a Redis alerter can rely on, monitoring that scrapes what
exists, and the project's own rules, loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from alerter.rules.load import load_rules
from alerter.settings import SECRET_SETTINGS, Settings

ROOT = Path(__file__).parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.34"
KUSTOMIZATION = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
# Kinds from operators (Prometheus Operator, KEDA): no schema of Kubernetes' own.
OPTIONAL = ("monitoring.yaml", "keda-scaledobject.yaml")
SECRETS = "alerter-secrets"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KUBE / name).read_text()) if doc]


def resources() -> list[dict[str, Any]]:
    return [doc for name in KUSTOMIZATION["resources"] for doc in documents(name)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def generated(kind: str, name: str) -> dict[str, Any]:
    [generator] = [g for g in KUSTOMIZATION[kind] if g["name"] == name]
    return dict(generator)


def secret_example() -> dict[str, str]:
    """secrets.env.example, as the secretGenerator reads secrets.env."""
    [envs] = generated("secretGenerator", SECRETS)["envs"]
    assert envs == "secrets.env"
    lines = (KUBE / "secrets.env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def settings_literals() -> dict[str, str]:
    literals = generated("configMapGenerator", "alerter-settings")["literals"]
    return dict(literal.split("=", 1) for literal in literals)


def pod(name: str) -> dict[str, Any]:
    workloads = {**by_kind("Deployment"), **by_kind("StatefulSet")}
    return dict(workloads[name]["spec"]["template"])


def test_every_file_the_kustomization_names_exists() -> None:
    named = list(KUSTOMIZATION["resources"])
    for generator in KUSTOMIZATION["configMapGenerator"]:
        named += generator.get("files", [])
    for name in named:
        assert (KUBE / name).is_file(), name
    # secrets.env is the user's copy of the example, kept out of git.
    assert "deploy/kubernetes/secrets.env" in (ROOT / ".gitignore").read_text().splitlines()
    assert secret_example()


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in KUBE.glob("*.yaml")
        if p.name != "kustomization.yaml" and p.name not in OPTIONAL
    ),
)
def test_manifests_follow_the_kubernetes_schemas(name: str) -> None:
    for doc in documents(name):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_deployments_are_locked_down_and_probed() -> None:
    deployments = by_kind("Deployment")
    assert set(deployments) == {"alerter-api", "alerter-worker"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's numeric user
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["image"] == "alerter"
        hardened = container["securityContext"]
        assert hardened["readOnlyRootFilesystem"] is True
        assert hardened["allowPrivilegeEscalation"] is False
        assert hardened["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/app/rules"] == "rules" and "/tmp" in mounts  # read-only root: a /tmp
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert set(mounts.values()) <= set(volumes)
        assert volumes["rules"]["configMap"]["name"] == "alerter-rules"
        assert volumes["secrets"]["secret"]["secretName"] == SECRETS
        assert container["envFrom"] == [{"configMapRef": {"name": "alerter-settings"}}]
        assert container["livenessProbe"] and container["readinessProbe"]
    api = deployments["alerter-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["args"] == ["api"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    worker = deployments["alerter-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"] == ["worker"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert worker[probe]["exec"]["command"] == ["alerter", "worker", "--check"]
    names = {e["name"]: e for e in worker["env"]}
    assert names["ALERTER_WORKER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_env_names_are_settings_and_secrets_come_from_files() -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    secret_keys = set(secret_example())
    rule_variables = {"SLACK_OPS_URL", "ONCALL_MAIL_URL"}
    assert set(settings_literals()) <= aliases
    for deployment in by_kind("Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        for env in container["env"]:
            name = env["name"]
            if name.endswith("_FILE"):
                setting = name.removesuffix("_FILE")
                assert env["value"] == f"/run/secrets/alerter/{setting}"
                assert setting in secret_keys
                assert setting in SECRET_SETTINGS or setting in rule_variables
            else:
                assert name in aliases, name
            assert name not in SECRET_SETTINGS, f"{name} as plain text: read it from a file"


def test_services_budgets_and_autoscalers_point_at_what_exists() -> None:
    deployments = by_kind("Deployment")
    labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    service = by_kind("Service")["alerter-api"]
    assert service["spec"]["selector"].items() <= labels["alerter-api"].items()
    port_names = {
        p["name"]
        for p in deployments["alerter-api"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    budgets = by_kind("PodDisruptionBudget")
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels[name].items()
    for scaler in by_kind("HorizontalPodAutoscaler").values():
        target = scaler["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
    [keda] = documents("keda-scaledobject.yaml")
    assert keda["spec"]["scaleTargetRef"]["name"] == "alerter-worker"
    assert "alerter_queue_oldest_due_seconds" in keda["spec"]["triggers"][0]["metadata"]["query"]


def test_the_api_replicas_share_one_console_secret_and_the_public_url() -> None:
    """Without one secret, a form served by one replica is refused by the other (403)."""
    api = pod("alerter-api")["spec"]
    [container] = api["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ALERTER_CONSOLE_SECRET_FILE"]["value"] == (
        "/run/secrets/alerter/ALERTER_CONSOLE_SECRET"
    )
    assert "ALERTER_CONSOLE_SECRET" in SECRET_SETTINGS  # read from that file
    assert "valueFrom" not in env["ALERTER_CONSOLE_SECRET_FILE"]  # a path, the same in each pod
    assert secret_example()["ALERTER_CONSOLE_SECRET"]
    assert {v["name"]: v for v in api["volumes"]}["secrets"]["secret"] == {"secretName": SECRETS}
    # Alerts (rendered by workers) and the console's cookies both need the public address.
    assert settings_literals()["ALERTER_PUBLIC_URL"].startswith("https://")


def test_both_pods_are_scraped_and_the_service_monitors_find_them() -> None:
    services = by_kind("Service")
    for component, port in (("api", 8000), ("worker", 9100)):
        spec = pod(f"alerter-{component}")
        annotations = spec["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
        [container] = spec["spec"]["containers"]
        assert port in {p["containerPort"] for p in container["ports"]}
    monitors = {d["metadata"]["name"]: d for d in documents("monitoring.yaml")}
    for name in ("alerter-api", "alerter-worker"):
        monitor = monitors[name]
        assert monitor["kind"] == "ServiceMonitor"
        wanted = monitor["spec"]["selector"]["matchLabels"].items()
        [service] = [s for s in services.values() if wanted <= s["metadata"]["labels"].items()]
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert service["spec"]["selector"].items() <= pod(name)["metadata"]["labels"].items()
    rule = monitors["alerter"]
    assert rule["kind"] == "PrometheusRule"
    shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerter-rules.yaml").read_text())
    assert rule["spec"] == shipped


def test_the_redis_keeps_the_queue_and_asks_for_the_password_alerter_sends() -> None:
    statefulset = by_kind("StatefulSet")["alerter-redis"]
    spec = statefulset["spec"]
    template = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    [container] = template["spec"]["containers"]
    script = " ".join(container["args"])
    for setting in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert setting in script
    assert "requirepass" in script and "/run/secrets/redis/REDIS_PASSWORD" in script
    assert "$(" not in script  # Kubernetes would expand $(NAME) in args itself
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == SECRETS
    assert volumes["password"]["secret"]["items"] == [
        {"key": "REDIS_PASSWORD", "path": "REDIS_PASSWORD"}
    ]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] == "data"
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    # alerter's REDIS_URL reaches this Service with this password.
    example = secret_example()
    url = urlsplit(example["REDIS_URL"])
    service = by_kind("Service")["alerter-redis"]
    assert url.hostname == service["metadata"]["name"]
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    assert url.password == example["REDIS_PASSWORD"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()


def test_the_first_token_step_is_written_down() -> None:
    step = "kubectl exec deploy/alerter-api -- alerter console token add NAME --role operator"
    assert step in (KUBE / "kustomization.yaml").read_text()
    assert step in (ROOT / "docs" / "deploy.md").read_text()
    assert by_kind("Deployment")["alerter-api"]["metadata"]["name"] == "alerter-api"


def test_the_cluster_runs_the_projects_rules() -> None:
    """The ConfigMap is made from a copy of rules/ (kustomize reads nothing above its
    folder): the same files, byte for byte, every one of them listed."""
    shipped = {p.name: p.read_bytes() for p in (ROOT / "rules").glob("*.yaml")}
    copied = {p.name: p.read_bytes() for p in (KUBE / "rules").glob("*.yaml")}
    assert copied == shipped
    files = generated("configMapGenerator", "alerter-rules")["files"]
    assert sorted(files) == [f"rules/{name}" for name in sorted(shipped)]
    env = {k: v for k, v in secret_example().items() if k in ("SLACK_OPS_URL", "ONCALL_MAIL_URL")}
    rules = load_rules(KUBE / "rules", env)
    assert len(rules.rules) == len(load_rules(ROOT / "rules", env).rules) > 2


def test_the_api_pod_says_how_many_processes_it_runs() -> None:
    """With no CPU limit the default would count the node's CPUs: the pod names its number,
    and its memory limit holds that many api processes (about 110 MB each)."""
    [container] = pod("alerter-api")["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    if "cpu" not in container["resources"].get("limits", {}):
        assert "ALERTER_API_PROCESSES" in env
    processes = Settings(ALERTER_API_PROCESSES=env["ALERTER_API_PROCESSES"]).api_processes
    memory = container["resources"]["limits"]["memory"]
    assert memory.endswith("Mi") and int(memory[:-2]) >= 128 * processes
