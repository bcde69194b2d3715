"""deploy/grafana-dashboard.json, docs/operations.md and the Dockerfile agree
with the metric contract and with the chart's assumptions."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import CHART, METRICS, REPO, container, find, manifests, metric_names_in

DASHBOARD = REPO / "deploy" / "grafana-dashboard.json"
OPERATIONS = REPO / "docs" / "operations.md"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def data_panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_dashboard_is_an_importable_grafana_dashboard(dashboard):
    assert dashboard["title"] == "Reverb"
    assert dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in data_panels(dashboard):
        assert panel["type"] in {"timeseries", "stat"}
        assert panel["title"] and panel["description"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]


def test_dashboard_panels_fit_the_grid_without_overlapping(dashboard):
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        box = panel["gridPos"]
        assert 0 <= box["x"] and box["x"] + box["w"] <= 24, panel["title"]
        for dx in range(box["w"]):
            for dy in range(box["h"]):
                cell = (box["x"] + dx, box["y"] + dy)
                assert cell not in cells, f"{panel['title']} overlaps at {cell}"
                cells.add(cell)


def test_dashboard_uses_exactly_the_contract_metrics(dashboard):
    used: set[str] = set()
    for panel in data_panels(dashboard):
        for target in panel["targets"]:
            used |= metric_names_in(target["expr"])
    assert used <= METRICS.keys(), used - METRICS.keys()
    assert METRICS.keys() <= used, f"no panel for {sorted(METRICS.keys() - used)}"


def test_dashboard_variables_are_defined(dashboard):
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    referenced = set()
    for panel in data_panels(dashboard):
        for target in panel["targets"]:
            referenced |= set(re.findall(r"\$(\w+)", target["expr"]))
    referenced.discard("__rate_interval")
    assert referenced <= defined
    assert "datasource" in defined


def test_histograms_are_read_through_their_buckets(dashboard):
    exprs = [t["expr"] for p in data_panels(dashboard) for t in p["targets"]]
    for name, kind in METRICS.items():
        if kind == "histogram":
            assert any(f"{name}_bucket" in e and "histogram_quantile" in e for e in exprs), name


def test_operations_doc_lists_every_metric_and_alert():
    text = OPERATIONS.read_text()
    for name in METRICS:
        assert f"`{name}" in text, name
    rule = find(manifests({"metrics": {"prometheusRule": {"enabled": True}}}), "PrometheusRule")
    for alert in rule["spec"]["groups"][0]["rules"]:
        assert alert["alert"] in text, alert["alert"]
    assert "deploy/grafana-dashboard.json" in text


def test_operations_doc_uses_only_contract_metric_names():
    names = metric_names_in(OPERATIONS.read_text())
    assert names <= METRICS.keys(), names - METRICS.keys()


# --- the image the chart runs ----------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
    assert len(starts) == 2, "a build stage and a runtime stage"
    return instructions[starts[1] :]


def test_dockerfile_builds_the_reverb_binary_in_a_rust_stage():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("rust:1.95")
    run = " ".join(rest for k, rest in instructions if k == "RUN")
    assert "cargo build --release --locked -p reverb-server" in run
    assert "target/release/reverb" in run


def test_runtime_image_matches_what_the_chart_expects():
    stage = dict(runtime_stage())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    c = container(manifests({}))
    assert stage["FROM"] == "debian:bookworm-slim"
    assert stage["USER"] == f"{values['podSecurityContext']['runAsUser']}:{values['podSecurityContext']['runAsGroup']}"
    assert stage["EXPOSE"] == str(values["containerPort"])
    assert stage["WORKDIR"] == c["workingDir"] == "/var/lib/reverb"
    assert json.loads(stage["VOLUME"]) == ["/var/lib/reverb"]
    assert json.loads(stage["ENTRYPOINT"]) == ["/usr/local/bin/reverb"]
    assert "wget --spider" in stage["HEALTHCHECK"].replace('", "', " ") and "/health" in stage["HEALTHCHECK"]
    runs = " ".join(rest for k, rest in runtime_stage() if k == "RUN")
    # Halyard's exec probe needs wget; TLS to Slack needs the CA bundle.
    assert "wget" in runs and "ca-certificates" in runs
    assert "--uid 10111" in runs and "--gid 10111" in runs
    assert "/opt/spinnaker/config" in runs


def test_dockerignore_keeps_build_output_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in ("target/", ".venv/", "data/"):
        assert entry in ignored
    # The workspace needs these to build.
    for needed in ("crates", "templates", "tests", "Cargo.lock"):
        assert not any(line.rstrip("/") == needed for line in ignored)
