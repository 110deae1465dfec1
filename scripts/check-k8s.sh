#!/usr/bin/env bash
# What CI can prove about kubernetes.yaml without a cluster:
#   1. every document validates in strict mode (unknown fields are errors)
#      against the bundled Kubernetes 1.30 and 1.33 schemas, and a warning
#      (say, a kind it has no schema for) fails too: kubernetes-validate
#      itself exits 0 on warnings;
#   2. checkov's Kubernetes checks pass; each waived one is justified in a
#      checkov.io/skip annotation, the only waiver checkov reads in manifests;
#   3. the Deployment runs counter:<the version in Cargo.toml>, the tag
#      nix/image.nix gives the image;
#   4. availability: in redis mode a PodDisruptionBudget and a
#      HorizontalPodAutoscaler select/target the counter Deployment, which
#      spreads softly over nodes and leaves its replica count to the
#      autoscaler; in memory mode exactly one replica and neither of them,
#      and durable: the state file on a mounted PersistentVolumeClaim,
#      strategy Recreate, fsGroup 65534, read-only root file system;
#   5. only the counter is public: the Ingress routes exactly /status and
#      /statusV2 (pathType Exact) to the counter Service's `http` port, and
#      the ServiceMonitor (deploy/prometheus/servicemonitor.yaml) scrapes
#      /metrics through that Service, which the Ingress does not route.
# Both files are rendered from deploy/k8s/ (scripts/render-k8s.sh --check
# proves they are fresh).
# What only a k3s node can show (the pod starting under the restricted Pod
# Security Standard, Traefik routing, probes, the drain) is in README "Deploy to k3s".
#
# The tools live in their own virtualenv, created once and reused, so they do
# not disturb the machine's Python packages. Idempotent. Run from anywhere:
#   bash scripts/check-k8s.sh
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
CHECKOV_VERSION=3.3.30
KUBERNETES_VERSIONS=(1.30 1.33) # issue 4 asks for 1.30+; k3s stable is newer
VENV=${COUNTER_K8S_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/counter/k8s-tools}
MANIFEST=${1:-kubernetes.yaml} # or kubernetes-memory.yaml

step() { printf '\n== %s\n' "$*"; }

step "tools (virtualenv $VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || {
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  }
fi
installed() { [ "$("$VENV/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')" = "$2" ]; }
if ! installed kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" || ! installed checkov "$CHECKOV_VERSION"; then
  timeout 1200 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "checkov==$CHECKOV_VERSION"
fi
echo "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version), checkov $("$VENV/bin/checkov" --version | tail -n1)"

for version in "${KUBERNETES_VERSIONS[@]}"; do
  step "kubernetes-validate --strict -k $version"
  out=$(timeout 120 "$VENV/bin/kubernetes-validate" --strict -k "$version" "$MANIFEST" 2>&1) || {
    echo "$out"
    exit 1
  }
  echo "$out"
  if grep -q '^WARN' <<<"$out"; then
    echo "FAIL: kubernetes-validate warned (it exits 0 on warnings)" >&2
    exit 1
  fi
done

step "checkov (Kubernetes checks, offline)"
# --skip-download: no calls to Prisma Cloud for guidelines; the checks are local.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
timeout 600 "$VENV/bin/checkov" --framework kubernetes --file "$MANIFEST" \
  --compact --skip-download --output json >"$report" || true # judged below
python3 - "$report" <<'PY2'
import json, sys

report = json.load(open(sys.argv[1]))
results, summary = report["results"], report["summary"]
for check in results["failed_checks"]:
    print(f"FAILED {check['check_id']} {check['check_name']}: {check['resource']} "
          f"lines {check['file_line_range']}")
for check in results["skipped_checks"]:
    reason = (check.get("check_result") or {}).get("suppress_comment", "")
    print(f"waived {check['check_id']} {check['check_name']}: {reason}")
    if reason in ("", "No comment provided"):
        sys.exit(f"checkov: waiver of {check['check_id']} gives no reason")
if results["failed_checks"] or summary.get("parsing_errors"):
    sys.exit(f"checkov: {summary['failed']} failed, {summary.get('parsing_errors', 0)} parse errors")
print(f"ok  checkov: {summary['passed']} passed, {summary['failed']} failed, "
      f"{summary['skipped']} waived with reasons")
PY2

step "image tag follows the crate version"
# nix/image.nix tags the image with Cargo.toml's version; a bump must reach here.
"$VENV/bin/python" - "$MANIFEST" <<'PY2'
import re, sys, yaml

version = re.search(r'^version = "([^"]+)"', open("Cargo.toml").read(), re.M).group(1)
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
images = [c["image"] for d in docs
          for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
wrong = [i for i in images if i.startswith("counter:") and i != f"counter:{version}"]
if wrong or f"counter:{version}" not in images:
    sys.exit(f"kubernetes.yaml runs {images}, Cargo.toml's version is {version}")
labels = [d["metadata"].get("labels", {}).get("app.kubernetes.io/version") for d in docs
          if d["kind"] == "Deployment" and d["metadata"]["name"] == "counter"]
if labels != [version]:
    sys.exit(f"Deployment counter's app.kubernetes.io/version label is {labels}, expected {version}")
print(f"ok  image counter:{version}, version label {version}")
PY2

step "availability: replicas, PodDisruptionBudget, autoscaler, spreading"
"$VENV/bin/python" - "$MANIFEST" <<'PY2'
import sys, yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def of(kind):
    return [d for d in docs if d["kind"] == kind]
[deploy] = [d for d in of("Deployment") if d["metadata"]["name"] == "counter"]
pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
env = {e["name"]: e.get("value") for c in deploy["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
fail = lambda msg: sys.exit(f"{sys.argv[1]}: {msg}")
if env.get("BACKEND") == "redis":
    if "replicas" in deploy["spec"]:
        fail("redis mode: the Deployment sets replicas, which would fight the HorizontalPodAutoscaler")
    hpas = [h for h in of("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == "counter"]
    if len(hpas) != 1 or hpas[0]["spec"]["scaleTargetRef"]["kind"] != "Deployment" \
            or hpas[0]["spec"].get("minReplicas", 1) < 2:
        fail(f"redis mode needs one HorizontalPodAutoscaler on Deployment counter with minReplicas >= 2: {hpas}")
    if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpas[0]["spec"]["metrics"]):
        fail("the HorizontalPodAutoscaler does not scale on CPU")
    pdbs = [p for p in of("PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
    if len(pdbs) != 1:
        fail(f"redis mode needs one PodDisruptionBudget selecting the counter pods {pod_labels}: {len(pdbs)}")
    spread = deploy["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
    soft = [t for t in spread if t["topologyKey"] == "kubernetes.io/hostname"
            and t["whenUnsatisfiable"] == "ScheduleAnyway"
            and t["labelSelector"]["matchLabels"].items() <= pod_labels.items()]
    if not soft:
        fail("redis mode: no soft (ScheduleAnyway) spread of the counter pods over kubernetes.io/hostname")
    print(f"ok  redis mode: autoscaler {hpas[0]['spec']['minReplicas']}..{hpas[0]['spec']['maxReplicas']} on CPU, "
          f"PodDisruptionBudget {pdbs[0]['spec']}, soft spread over nodes")
else:
    if deploy["spec"].get("replicas") != 1 or of("HorizontalPodAutoscaler") or of("PodDisruptionBudget"):
        fail("memory mode must stay at exactly one replica, without an autoscaler or PodDisruptionBudget")
    # Durable (docs/state-file.md): the state file on a PersistentVolumeClaim the pod mounts, Recreate (a
    # ReadWriteOnce volume and a file one process locks), fsGroup 65534 so the non-root image can write it,
    # and the read-only root file system kept.
    pod = deploy["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "counter"]
    claims = {p["metadata"]["name"] for p in of("PersistentVolumeClaim")}
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
               if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] in claims}
    mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in volumes]
    state_file = env.get("STATE_FILE") or ""
    if not any(state_file.startswith(m.rstrip("/") + "/") for m in mounts):
        fail(f"memory mode: STATE_FILE {state_file!r} is not on a mounted PersistentVolumeClaim {mounts} {claims}")
    if deploy["spec"].get("strategy", {}).get("type") != "Recreate":
        fail("memory mode: strategy must be Recreate (ReadWriteOnce volume, one process per state file)")
    if pod.get("securityContext", {}).get("fsGroup") != 65534:
        fail("memory mode: the pod needs fsGroup 65534 so uid 65534 can write the volume")
    if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
        fail("memory mode: the root file system must stay read-only")
    print(f"ok  memory mode: one replica, no autoscaler, no PodDisruptionBudget; STATE_FILE {state_file} on "
          f"PersistentVolumeClaim {sorted(volumes.values())}, Recreate, fsGroup 65534, read-only root")
PY2

step "only the counter is public: Ingress paths, Service, ServiceMonitor"
"$VENV/bin/python" - "$MANIFEST" deploy/prometheus/servicemonitor.yaml <<'PY2'
import sys, yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
fail = lambda msg: sys.exit(f"{sys.argv[1]}: {msg}")
public = {"/status", "/statusV2"}
ingresses = [d for d in docs if d["kind"] == "Ingress"]
if len(ingresses) != 1:
    fail(f"expected one Ingress, found {len(ingresses)}")
spec = ingresses[0]["spec"]
if "defaultBackend" in spec:
    fail("the Ingress has a defaultBackend: every path would be public")
paths = [(p.get("path"), p["pathType"], p["backend"]) for r in spec["rules"] for p in r["http"]["paths"]]
for path, kind, backend in paths:
    if path not in public or kind != "Exact":
        fail(f"the Ingress routes {path!r} ({kind}); only {sorted(public)} with pathType Exact may be public")
    if backend.get("service", {}).get("name") != "counter" or backend["service"]["port"].get("name") != "http":
        fail(f"the Ingress sends {path} to {backend}, not the counter Service's http port")
if {p for p, _, _ in paths} != public:
    fail(f"the Ingress routes {sorted(p for p, _, _ in paths)}, expected {sorted(public)}")
[service] = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "counter"]
ports = {p["name"]: p for p in service["spec"]["ports"]}
[deploy] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "counter"]
[container] = [c for c in deploy["spec"]["template"]["spec"]["containers"] if c["name"] == "counter"]
if ports.get("http", {}).get("targetPort") not in [p.get("name") for p in container["ports"]]:
    fail(f"the counter Service's http port {ports.get('http')} does not reach a named container port")
for probe in ("livenessProbe", "readinessProbe"):
    path = container.get(probe, {}).get("httpGet", {}).get("path")
    if path in public:
        fail(f"{probe} uses {path}, which counts: probes must use /health or /ready")
[monitor] = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "ServiceMonitor"]
labels = service["metadata"].get("labels", {})
if not monitor["spec"]["selector"]["matchLabels"].items() <= labels.items():
    fail(f"the ServiceMonitor selects {monitor['spec']['selector']}, not the counter Service {labels}")
for endpoint in monitor["spec"]["endpoints"]:
    if endpoint.get("port") not in ports or endpoint.get("path") != "/metrics":
        fail(f"the ServiceMonitor scrapes {endpoint}, expected /metrics on a port of the counter Service")
print(f"ok  public through the Ingress: {sorted(public)} (Exact); /metrics scraped in-cluster on Service port "
      f"{monitor['spec']['endpoints'][0]['port']}, probes on {[container[p]['httpGet']['path'] for p in ('livenessProbe', 'readinessProbe') if p in container]}")
PY2

step "all Kubernetes checks passed"
