"""charts/reverb: lint, render under every values file in values/, validate the
manifests strictly, and check that the chart really replaces spin-echo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from conftest import (
    CHART,
    CRD_KINDS,
    METRICS,
    NAMESPACE,
    REPO,
    container,
    env_of,
    find,
    kinds,
    load_values,
    manifests,
    metric_names_in,
    render,
    values_files,
)

HALYARD_EXEC_PROBE = ["wget", "--no-check-certificate", "--spider", "-q", "http://localhost:8089/health"]
KUBE_VERSIONS = ["1.25.0", "1.37.0"]  # the chart's kubeVersion floor, and the newest schemas
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of the venv running pytest, else one on PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    assert found, f"{name} is not installed; run scripts/chart-test.sh"
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment")["spec"]["template"]["spec"]


def volume(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (only,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == name]
    return only


def echo_local(objects: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = find(objects, "ConfigMap")
    return yaml.safe_load(config_map["data"]["echo-local.yml"])


def checksum(values: dict[str, Any]) -> str:
    deployment = find(manifests(values), "Deployment")
    return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


# --- lint and manifest validation -------------------------------------------------


def test_lint_is_clean_with_defaults():
    result = helm.lint(str(CHART), strict=True)
    assert result["errors"] == []
    # Severity 1 is INFO (e.g. "icon is recommended"); nothing at WARNING or above.
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


def test_lint_is_clean_with_each_values_file(values_file):
    result = helm.lint(str(CHART), load_values(values_file), strict=True)
    assert result["errors"] == [], result
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


def merged(defaults: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Values as Helm merges them: maps key by key, anything else replaced."""
    out = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def test_values_files_and_defaults_match_the_schema(tmp_path):
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    files = [str(CHART / "values.yaml")]
    for name in values_files():
        target = tmp_path / name
        target.write_text(yaml.safe_dump(merged(defaults, load_values(name))))
        files.append(str(target))
    run = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(CHART / "values.schema.json"), *files],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_passes_strict_kubernetes_validation(values_file, kube_version, tmp_path):
    objects = manifests(load_values(values_file))
    core = [o for o in objects if o["kind"] not in CRD_KINDS]
    assert any(o["kind"] == "Deployment" for o in core)
    target = tmp_path / "rendered.yaml"
    target.write_text(yaml.safe_dump_all(core, sort_keys=False))
    run = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", "-k", kube_version, str(target)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARN" not in run.stdout + run.stderr, run.stdout + run.stderr


def test_kubernetes_validate_catches_a_broken_manifest(tmp_path):
    # Guards the test above against a validator that accepts anything.
    objects = manifests({})
    service = find(objects, "Service")
    service["spec"]["ports"][0]["port"] = "8089"
    service["spec"]["bogusField"] = True
    target = tmp_path / "broken.yaml"
    target.write_text(yaml.safe_dump(service))
    run = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(target)], capture_output=True, text=True
    )
    assert run.returncode != 0


def test_only_expected_objects_by_default():
    assert kinds(manifests({})) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]


# --- spin-echo in place -------------------------------------------------------------


def test_service_replaces_spin_echo():
    objects = manifests({})
    service = find(objects, "Service")
    assert service["metadata"]["name"] == "spin-echo"
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8089
    assert port["targetPort"] == "http"
    (container_port,) = container(objects)["ports"]
    assert container_port == {"name": "http", "containerPort": 8089, "protocol": "TCP"}


def test_selectors_use_halyards_labels_and_match_the_pods():
    objects = manifests({})
    deployment = find(objects, "Deployment", "spin-echo")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service_selector = find(objects, "Service")["spec"]["selector"]
    deployment_selector = deployment["spec"]["selector"]["matchLabels"]
    assert service_selector["app"] == "spin"
    assert service_selector["cluster"] == "spin-echo"
    assert service_selector["app.kubernetes.io/name"] == "reverb"
    assert service_selector["app.kubernetes.io/instance"] == "spin"
    assert deployment_selector == service_selector
    assert service_selector.items() <= pod_labels.items()
    # A Service Halyard created for spin-echo selects only these two labels.
    assert {"app": "spin", "cluster": "spin-echo"}.items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/part-of"] == "spinnaker"


def test_names_and_selector_labels_are_configurable():
    objects = manifests(
        {
            "fullnameOverride": "reverb",
            "service": {"name": "spin-echo-worker"},
            "selectorLabels": {"app": "spin", "cluster": "spin-echo-worker"},
        }
    )
    deployment = find(objects, "Deployment", "reverb")
    service = find(objects, "Service", "spin-echo-worker")
    assert service["spec"]["selector"]["cluster"] == "spin-echo-worker"
    assert deployment["spec"]["template"]["metadata"]["labels"]["cluster"] == "spin-echo-worker"
    assert find(objects, "ConfigMap")["metadata"]["name"] == "reverb-config"
    assert find(objects, "PersistentVolumeClaim")["metadata"]["name"] == "reverb-store"


def test_release_name_is_used_without_fullname_override():
    objects = manifests({"fullnameOverride": ""})
    assert find(objects, "Deployment")["metadata"]["name"] == "spin-reverb"


def test_single_replica_grace_period_and_resources():
    objects = manifests({})
    deployment = find(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert pod_spec(objects)["terminationGracePeriodSeconds"] == 30
    assert container(objects)["resources"] == {
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"memory": "128Mi"},
    }


def test_spring_profile_and_listen_address():
    env = env_of(manifests({}))
    assert env["SPRING_PROFILES_ACTIVE"]["value"] == "local"
    assert env["SERVER_PORT"]["value"] == "8089"
    assert env["SERVER_ADDRESS"]["value"] == "0.0.0.0"
    env = env_of(manifests({"config": {"springProfilesActive": "worker,local"}}))
    assert env["SPRING_PROFILES_ACTIVE"]["value"] == "worker,local"


# --- probes -------------------------------------------------------------------------


def test_http_probes_hit_health_on_port_8089():
    objects = manifests({})
    c = container(objects)
    named_ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/health"
        assert named_ports[get["port"]] == 8089
        assert "exec" not in c[probe]
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 60
    assert c["livenessProbe"]["successThreshold"] == 1


def test_exec_probes_run_halyards_wget():
    c = container(manifests(load_values("exec-probes.yaml")))
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["exec"]["command"] == HALYARD_EXEC_PROBE
        assert "httpGet" not in c[probe]


def test_exec_probe_follows_the_container_port():
    c = container(manifests({"probes": {"exec": True}, "containerPort": 9089}))
    assert c["readinessProbe"]["exec"]["command"][-1] == "http://localhost:9089/health"
    assert env_of(manifests({"containerPort": 9089}))["SERVER_PORT"]["value"] == "9089"


def test_probes_can_be_disabled():
    c = container(manifests({"probes": {"startup": {"enabled": False}, "liveness": {"enabled": False}}}))
    assert "startupProbe" not in c and "livenessProbe" not in c
    assert "readinessProbe" in c


# --- configuration and secrets ----------------------------------------------------------


def test_existing_secret_config_and_slack_credentials_from_secret():
    objects = manifests(load_values("existing-secret.yaml"))
    assert "ConfigMap" not in kinds(objects)
    sources = volume(objects, "config")["projected"]["sources"]
    assert sources == [{"secret": {"name": "spin-echo-files"}}]
    mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/opt/spinnaker/config"
    assert mounts["config"]["readOnly"] is True

    env = env_of(objects)
    assert env["SLACK_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "reverb-slack", "key": "bot-token"}
    # Reverb falls back to slack.token for slack.app.token.
    assert "SLACK_APP_TOKEN" not in env
    assert env["SLACK_APP_SIGNINGSECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "reverb-slack",
        "key": "signing-secret",
    }
    for name in ("SLACK_TOKEN", "SLACK_APP_SIGNINGSECRET"):
        assert "value" not in env[name]
    assert env["SLACK_ENABLED"]["value"] == "true"


def test_existing_configmap_and_secret_combine():
    objects = manifests({"config": {"existingSecret": "files", "existingConfigMap": "more-files"}})
    assert volume(objects, "config")["projected"]["sources"] == [
        {"secret": {"name": "files"}},
        {"configMap": {"name": "more-files"}},
    ]


def test_no_slack_env_without_a_secret():
    env = env_of(manifests({}))
    assert not {"SLACK_TOKEN", "SLACK_APP_TOKEN", "SLACK_APP_SIGNINGSECRET", "SLACK_ENABLED"} & env.keys()


def test_secret_keys_can_be_left_out_or_added():
    env = env_of(manifests({"slack": {"existingSecret": "s", "signingSecretKey": ""}}))
    assert env["SLACK_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "token"}
    assert "SLACK_APP_TOKEN" not in env and "SLACK_APP_SIGNINGSECRET" not in env
    env = env_of(manifests({"slack": {"existingSecret": "s", "appTokenKey": "app-token"}}))
    assert env["SLACK_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"
    assert env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "app-token"}
    assert env["SLACK_APP_SIGNINGSECRET"]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "signing-secret"}
    env = env_of(manifests({"slack": {"existingSecret": "s", "enabled": False}}))
    assert "SLACK_ENABLED" not in env and "SLACK_TOKEN" in env


def test_echo_local_values_render_into_a_mounted_configmap():
    objects = manifests(load_values("echo-local.yaml"))
    config_map = find(objects, "ConfigMap", "spin-echo-config")
    assert list(config_map["data"]) == ["echo-local.yml"]
    document = echo_local(objects)
    assert document["orca"]["baseUrl"] == "http://spin-orca:8083"
    assert document["slack"]["enabled"] is True
    assert volume(objects, "config")["projected"]["sources"] == [{"configMap": {"name": "spin-echo-config"}}]
    assert env_of(objects)["SLACK_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "reverb-slack"


CREDENTIAL_KEYS = {
    "slack.token",
    "slack.app.token",
    "slack.signingsecret",
    "slack.app.signingsecret",
    "slack.verificationtoken",
    "slack.app.verificationtoken",
}


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return {k.rstrip("."): v for k, v in flat.items()}


def test_no_credential_reaches_any_configmap(values_file):
    objects = manifests(load_values(values_file))
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        for text in config_map.get("data", {}).values():
            assert "xoxb-" not in text
            leaves = flatten(yaml.safe_load(text) or {})
            for key, value in leaves.items():
                relaxed = key.lower().replace("-", "").replace("_", "")
                if relaxed in CREDENTIAL_KEYS:
                    assert value in ("", None) or str(value).startswith("${"), f"{key} in {config_map['metadata']['name']}"
    assert not [o for o in objects if o["kind"] == "Secret"], "the chart never creates Secrets"


@pytest.mark.parametrize(
    "echo_local",
    [
        {"slack": {"token": "xoxb-123-456"}},
        {"slack": {"app": {"token": "xoxb-123-456"}}},
        {"slack": {"app": {"signingSecret": "8f742231b10e8888abcd99yyyzzz85a5"}}},
        {"slack": {"app": {"signing-secret": "8f742231b10e8888abcd99yyyzzz85a5"}}},
        {"slack": {"app": {"signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"}}},
        {"slack": {"app": {"verificationToken": "abc"}}},
        {"slack": {"signingSecret": "8f742231b10e8888abcd99yyyzzz85a5"}},
        {"slack": {"verification_token": "abc"}},
        {"slack.app.signingSecret": "8f742231b10e8888abcd99yyyzzz85a5"},
        {"slack.app": {"token": "xoxb-123-456"}},
        {"SLACK": {"Token": "xoxb-123-456"}},
    ],
    ids=lambda v: str(v)[:40],
)
def test_rendering_fails_when_a_credential_is_put_in_echo_local(echo_local):
    with pytest.raises(helm.HelmRenderError, match="must not be rendered into a ConfigMap"):
        render({"config": {"echoLocal": echo_local}})


@pytest.mark.parametrize("reference", ["${SLACK_BOT_TOKEN}", ""], ids=["placeholder", "empty"])
def test_placeholders_for_credentials_are_allowed(reference):
    document = echo_local(manifests({"config": {"echoLocal": {"slack": {"token": reference}}}}))
    assert document["slack"]["token"] == reference


def test_kork_secret_references_are_refused_because_reverb_cannot_decrypt_them():
    with pytest.raises(helm.HelmRenderError, match="kork-secrets reference"):
        render({"config": {"echoLocal": {"slack": {"app": {"signingSecret": "encrypted:k8s!n:slack!k:secret"}}}}})


def test_echo_local_cannot_be_combined_with_existing_config():
    with pytest.raises(helm.HelmRenderError, match="cannot be combined"):
        render({"config": {"existingSecret": "files", "echoLocal": {"slack": {"enabled": True}}}})


def test_checksum_changes_with_the_rendered_config_only():
    base = {"config": {"echoLocal": {"slack": {"enabled": True}}}}
    changed = {"config": {"echoLocal": {"slack": {"enabled": False}}}}
    assert checksum(base) != checksum(changed)
    assert checksum(base) != checksum({**base, "echo": {"legacyBaseUrl": "http://spin-echo-legacy:8089"}})
    assert checksum(base) == checksum({**base, "resources": {"limits": {"memory": "256Mi"}}})
    assert len(checksum(base)) == 64


# --- security and storage ------------------------------------------------------------------


def test_security_context():
    objects = manifests({})
    pod = pod_spec(objects)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10111 and pod["runAsGroup"] == 10111 and pod["fsGroup"] == 10111
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(objects)["securityContext"]
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"] == {"drop": ["ALL"]}
    assert c["runAsNonRoot"] is True
    assert pod_spec(objects)["automountServiceAccountToken"] is False


def test_only_the_store_and_tmp_are_writable():
    c = container(manifests({}))
    writable = sorted(m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly"))
    assert writable == ["/tmp", "/var/lib/reverb"]
    assert c["workingDir"] == "/var/lib/reverb"


def test_persistence_uses_a_claim_and_recreate():
    objects = manifests({"persistence": {"storageClass": "fast", "size": "2Gi"}})
    claim = find(objects, "PersistentVolumeClaim", "spin-echo-store")
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert volume(objects, "store")["persistentVolumeClaim"]["claimName"] == "spin-echo-store"
    assert find(objects, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert "storageClassName" not in find(manifests({}), "PersistentVolumeClaim")["spec"]
    dash = find(manifests({"persistence": {"storageClass": "-"}}), "PersistentVolumeClaim")
    assert dash["spec"]["storageClassName"] == ""


def test_without_persistence_the_store_is_an_empty_dir():
    objects = manifests(load_values("no-persistence.yaml"))
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert volume(objects, "store") == {"name": "store", "emptyDir": {}}
    assert find(objects, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert volume(objects, "tmp")["emptyDir"]["sizeLimit"] == "64Mi"


def test_existing_claim_is_mounted_without_creating_one():
    objects = manifests({"persistence": {"existingClaim": "reverb-data"}})
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert volume(objects, "store")["persistentVolumeClaim"]["claimName"] == "reverb-data"


# --- schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicaCount": 0}, "/replicaCount"),
        ({"replicaCount": 2}, "/replicaCount"),
        ({"service": {"port": "8089"}}, "/service/port"),
        ({"containerPort": 70000}, "/containerPort"),
        ({"bogus": True}, "bogus"),
        ({"probes": {"exec": "yes"}}, "/probes/exec"),
        ({"probes": {"readiness": {"periodSeconds": 0}}}, "/probes/readiness/periodSeconds"),
        ({"probes": {"liveness": {"httpGet": {"path": "/"}}}}, "/probes/liveness"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"service": {"type": "Ingress"}}, "/service/type"),
        ({"persistence": {"accessModes": ["ReadWriteSometimes"]}}, "/persistence/accessModes"),
        ({"persistence": {"enabled": "true"}}, "/persistence/enabled"),
        ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval"),
        ({"metrics": {"prometheusRule": {"unknownThreshold": 1}}}, "unknownThreshold"),
        ({"echo": {"legacyBaseUrl": "spin-echo-legacy:8089"}}, "/echo/legacyBaseUrl"),
        ({"slack": {"token": "xoxb-123"}}, "token"),
    ],
    ids=lambda v: str(v)[:50],
)
def test_schema_rejects_bad_values(values, complaint):
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmValuesError, match=complaint):
            chart.validate_schema(values)
    # A real install goes through the same check.
    with pytest.raises(helm.HelmValuesError):
        render(values)


def schema_node(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node = schema
    for key in path:
        properties = node.get("properties")
        if properties is None or key not in properties:
            return None
        node = properties[key]
    return node


def value_paths(tree: dict[str, Any], schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of values.yaml down to the leaves, not descending into free-form
    maps (labels, echoLocal, Kubernetes objects) the schema leaves open."""
    paths = []
    for key, value in tree.items():
        path = prefix + (key,)
        paths.append(path)
        node = schema_node(schema, list(path))
        if isinstance(value, dict) and node is not None and "properties" in node and node.get("additionalProperties") is False:
            paths.extend(value_paths(value, schema, path))
    return paths


def test_schema_describes_every_value():
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    missing = [".".join(p) for p in value_paths(defaults, schema) if schema_node(schema, list(p)) is None]
    assert missing == []
    undocumented = [
        ".".join(p) for p in value_paths(defaults, schema) if "description" not in (schema_node(schema, list(p)) or {})
    ]
    assert undocumented == []
    assert set(schema["properties"]) == set(defaults), "schema and values.yaml list the same top-level keys"


def test_docs_reference_every_value():
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    reference = (REPO / "docs" / "helm.md").read_text()
    paths = value_paths(defaults, schema)
    leaves = [p for p in paths if not any(q[: len(p)] == p and q != p for q in paths)]
    missing = [".".join(p) for p in leaves if f"| `{'.'.join(p)}` |" not in reference]
    assert missing == []


# --- monitoring -------------------------------------------------------------------------------


def test_monitoring_objects_have_their_required_fields():
    objects = manifests(load_values("monitoring.yaml"))
    service = find(objects, "Service")
    service_monitor = find(objects, "ServiceMonitor")
    assert service_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert service_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert service_monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = service_monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"

    annotations = find(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8089"
    assert annotations["prometheus.io/path"] == "/metrics"

    assert find(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert pod_spec(objects)["serviceAccountName"] == "spin-echo"


def test_pod_monitor_scrapes_the_named_port():
    objects = manifests(load_values("podmonitor.yaml"))
    assert "ServiceMonitor" not in kinds(objects)
    pod_labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    pod_monitor = find(objects, "PodMonitor")
    assert pod_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert pod_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in container(objects)["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"


def test_service_and_pod_monitor_are_exclusive():
    with pytest.raises(helm.HelmRenderError, match="not both"):
        render({"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}})


def test_prometheus_rule_alerts_use_contract_metrics_only():
    rule = find(manifests(load_values("monitoring.yaml")), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (group,) = rule["spec"]["groups"]
    assert group["name"] == "reverb"
    alerts = {r["alert"]: r for r in group["rules"]}
    for required in (
        "ReverbDeadLetters",
        "ReverbOutboxStuck",
        "ReverbSlackPermanentErrors",
        "ReverbCallbackVerificationFailures",
        "ReverbJudgmentErrors",
        "ReverbForgedClicks",
    ):
        assert required in alerts
    for name, alert in alerts.items():
        assert alert["expr"].strip(), name
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}
        assert alert["labels"]["team"] == "platform"
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        used = metric_names_in(alert["expr"])
        assert used, name
        assert used <= METRICS.keys(), f"{name} uses {used - METRICS.keys()}"
        assert f'namespace="{NAMESPACE}"' in alert["expr"]
    assert "> 600" in alerts["ReverbOutboxStuck"]["expr"]
    assert 'outcome="permanent_error"' in alerts["ReverbSlackPermanentErrors"]["expr"]
    assert 'outcome=~"orca_error|fiat_error"' in alerts["ReverbJudgmentErrors"]["expr"]
    assert 'outcome="forged"' in alerts["ReverbForgedClicks"]["expr"]


def test_prometheus_rule_selector_and_extra_rules():
    rule = find(
        manifests(
            {
                "metrics": {
                    "prometheusRule": {
                        "enabled": True,
                        "selector": 'job="spin-echo"',
                        "extraRules": [{"alert": "Custom", "expr": "vector(1)"}],
                    }
                }
            }
        ),
        "PrometheusRule",
    )
    rules = rule["spec"]["groups"][0]["rules"]
    assert rules[-1] == {"alert": "Custom", "expr": "vector(1)"}
    assert all('job="spin-echo"' in r["expr"] for r in rules[:-1])


def test_pdb_min_available_wins():
    pdb = find(manifests({"pdb": {"enabled": True, "minAvailable": 1}}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]


# --- Reverb in front of Echo -------------------------------------------------------------------


def test_echo_in_front_renders_the_legacy_url_and_service():
    objects = manifests(load_values("echo-in-front.yaml"))
    assert echo_local(objects)["reverb"]["echo"]["baseUrl"] == "http://spin-echo-legacy:8089"
    assert echo_local(objects)["slack"]["enabled"] is True
    reverb_service = find(objects, "Service", "spin-echo")
    legacy = find(objects, "Service", "spin-echo-legacy")
    assert find(objects, "Deployment")["metadata"]["name"] == "reverb"
    pod_labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    # The legacy Service must find Halyard's Echo and never Reverb itself.
    assert legacy["spec"]["selector"]["app.kubernetes.io/managed-by"] == "halyard"
    assert not legacy["spec"]["selector"].items() <= pod_labels.items()
    assert reverb_service["spec"]["selector"].items() <= pod_labels.items()
    assert legacy["spec"]["ports"][0]["port"] == 8089
    assert "REVERB_ECHO_BASEURL" not in env_of(objects)


def test_echo_in_front_with_existing_config_uses_an_env_override():
    objects = manifests(load_values("echo-in-front-existing-config.yaml"))
    assert "ConfigMap" not in kinds(objects)
    assert env_of(objects)["REVERB_ECHO_BASEURL"]["value"] == "http://spin-echo-legacy.spinnaker.svc:8089"


def test_legacy_service_name_must_differ():
    with pytest.raises(helm.HelmRenderError, match="must differ"):
        render({"echo": {"legacyService": {"create": True, "name": "spin-echo"}}})


# --- NOTES ----------------------------------------------------------------------------------------


def test_notes_give_the_callback_url_and_health_check():
    notes = render(load_values("existing-secret.yaml"))["reverb/templates/NOTES.txt"]
    assert "https://<your gate>/notifications/callbacks/slack" in notes
    assert "http://localhost:8089/health" in notes
    assert "spin-echo.spinnaker:8089" in notes
    assert "reverb-slack" in notes
    warning = render(load_values("no-persistence.yaml"))["reverb/templates/NOTES.txt"]
    assert "persistence.enabled=false" in warning
