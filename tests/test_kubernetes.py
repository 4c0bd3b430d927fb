"""deploy/kubernetes, checked without a cluster: every manifest against the Kubernetes API's
own schemas (kubernetes-validate), then what a schema cannot see: selectors that select,
probes that probe, a locked-down security context, names that exist, settings that exist,
and rules that load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from alerter.rules.load import load_rules
from alerter.settings import SECRET_SETTINGS, Settings

ROOT = Path(__file__).parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.34"
KUSTOMIZATION = yaml.safe_load((KUBE / "kustomization.yaml").read_text())


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KUBE / name).read_text()) if doc]


def resources() -> list[dict[str, Any]]:
    return [doc for name in KUSTOMIZATION["resources"] for doc in documents(name)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def test_every_file_the_kustomization_names_exists() -> None:
    named = list(KUSTOMIZATION["resources"])
    for generator in KUSTOMIZATION["configMapGenerator"]:
        named += generator["files"]
    for name in named:
        assert (KUBE / name).is_file(), name


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in KUBE.glob("*.yaml")
        if p.name != "kustomization.yaml" and p.name != "keda-scaledobject.yaml"
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
        assert volumes["secrets"]["secret"]["secretName"] in by_kind("Secret")
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
    secret_keys = set(by_kind("Secret")["alerter-secrets"]["stringData"])
    for deployment in by_kind("Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        for env in container["env"]:
            name = env["name"]
            if name.endswith("_FILE"):
                setting = name.removesuffix("_FILE")
                assert env["value"] == f"/run/secrets/alerter/{setting}"
                assert setting in secret_keys
                assert setting in SECRET_SETTINGS or setting == "SLACK_OPS_URL"
            else:
                assert name in aliases, name
            assert name not in SECRET_SETTINGS, f"{name} as plain text: read it from a file"


def test_services_budgets_and_autoscalers_point_at_what_exists() -> None:
    deployments = by_kind("Deployment")
    labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    [service] = by_kind("Service").values()
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


def test_the_shipped_rules_load() -> None:
    rules = load_rules(KUBE / "rules", {"SLACK_OPS_URL": "slack://T000/B000/XXXX"})
    assert {rule.name for rule in rules.rules} == {"transfer-failed", "agent-failure-rate"}
