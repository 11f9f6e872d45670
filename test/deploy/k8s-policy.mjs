// test/deploy/k8s-policy.mjs: the project's own rules for conduitd's rendered
// Kubernetes manifests (the ones issue 5 and docs/deploy.md state), so that
// a later edit that breaks one fails the build. Schema validity is
// k8s-schema.mjs's job; this checks meaning.
//
//   node test/deploy/k8s-policy.mjs [--namespace NS] [--image IMAGE] FILE
//
// FILE is the output of `kubectl kustomize k8s/overlays/ENV` (or of
// `k8s/deploy.sh render ENV IMAGE`). --namespace: every namespaced object must
// be in NS. --image: every container must run IMAGE.
//
// Prints "ok   RULE" or "FAIL RULE: why" per rule, then a count; exits 1 on
// any failure.
import { readFileSync } from "node:fs";
import { parseDocs } from "./lib.mjs";

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "StorageClass"]);
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"]);
// conduitd's default drain deadline (CONDUIT_SHUTDOWN_TIMEOUT), seconds.
const DEFAULT_SHUTDOWN_TIMEOUT = 25;
// The recovery budget of the requirements, seconds (docs/deploy.md).
const RECOVERY_BUDGET = 15 * 60;
// Fixed allowance in the budget for the workflow itself (job start, kubectl
// calls, the undo command), seconds.
const PIPELINE_OVERHEAD = 120;
// Allowance per pod for scheduling and container start when the image is
// already on the node (a rollback returns to an image the nodes just ran).
const POD_START_ALLOWANCE = 10;

const results = [];
function rule(name, problems) {
  const list = (Array.isArray(problems) ? problems : [problems]).filter(Boolean);
  results.push({ name, problems: list });
}

// CPU quantity ("500m", "2", "1.5") in cores, or NaN.
function cpuCores(q) {
  if (q === undefined || q === null) return NaN;
  const s = String(q);
  const m = /^([0-9]+(?:\.[0-9]+)?)(m?)$/.exec(s);
  if (!m) return NaN;
  return m[2] === "m" ? Number(m[1]) / 1000 : Number(m[1]);
}

function podSpecOf(obj) {
  if (obj.kind === "Pod") return obj.spec;
  if (obj.kind === "CronJob") return obj.spec?.jobTemplate?.spec?.template?.spec;
  return obj.spec?.template?.spec;
}

function labelsMatch(selector, labels) {
  const ml = selector?.matchLabels ?? {};
  if (Object.keys(ml).length === 0 && !(selector?.matchExpressions?.length)) return false;
  return Object.entries(ml).every(([k, v]) => labels?.[k] === v);
}

// Settings a container sees: envFrom ConfigMaps, then env values.
function containerEnv(container, configMaps) {
  const env = {};
  const missing = [];
  for (const src of container.envFrom ?? []) {
    const name = src.configMapRef?.name;
    if (!name) continue;
    const cm = configMaps.get(name);
    if (!cm) missing.push(name);
    else Object.assign(env, cm.data ?? {});
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.configMapKeyRef) {
      const cm = configMaps.get(e.valueFrom.configMapKeyRef.name);
      if (!cm) missing.push(e.valueFrom.configMapKeyRef.name);
      else env[e.name] = cm.data?.[e.valueFrom.configMapKeyRef.key];
    } else if (e.valueFrom) env[e.name] = { from: e.valueFrom };
  }
  return { env, missing };
}

function portOf(listen) {
  const m = /:([0-9]+)$/.exec(String(listen ?? ""));
  return m ? Number(m[1]) : NaN;
}

// Resolve a probe/service port (name or number) against a container's ports.
function resolvePort(port, container) {
  if (typeof port === "number") return port;
  if (/^[0-9]+$/.test(String(port))) return Number(port);
  const p = (container.ports ?? []).find((x) => x.name === port);
  return p ? p.containerPort : NaN;
}

function preStopSeconds(container) {
  const h = container.lifecycle?.preStop;
  if (!h) return NaN;
  if (h.sleep?.seconds !== undefined) return Number(h.sleep.seconds);
  const cmd = h.exec?.command ?? [];
  if (cmd.length === 2 && /(^|\/)sleep$/.test(cmd[0]) && /^[0-9]+$/.test(cmd[1])) return Number(cmd[1]);
  return NaN;
}

function imageProblems(image, expected) {
  if (typeof image !== "string" || image === "") return "no image";
  const [name, digest] = image.split("@");
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) return `${image}: bad digest`;
  const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(name.replace(/^[^/]*\//, (h) => h.replace(/:/g, "#")))?.[1];
  if (!tag && digest === undefined) return `${image}: untagged (means :latest)`;
  if (tag === "latest") return `${image}: the :latest tag is mutable`;
  if (expected && image !== expected) return `${image}: expected ${expected}`;
  return null;
}

export function checkManifests(objects, opts = {}) {
  results.length = 0;
  const configMaps = new Map(objects.filter((o) => o.kind === "ConfigMap").map((o) => [o.metadata?.name, o]));
  const deployments = objects.filter((o) => o.kind === "Deployment");
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const services = objects.filter((o) => o.kind === "Service");

  // --- the API Deployment ---------------------------------------------------
  rule("one Deployment named conduitd", deployments.length === 1 && deployments[0].metadata?.name === "conduitd" ? [] : `found ${deployments.map((d) => d.metadata?.name).join(", ") || "none"}`);
  const dep = deployments.find((d) => d.metadata?.name === "conduitd");
  if (!dep) return finish();
  const pod = dep.spec?.template?.spec ?? {};
  const podLabels = dep.spec?.template?.metadata?.labels ?? {};
  const api = (pod.containers ?? [])[0] ?? {};
  const { env, missing } = containerEnv(api, configMaps);
  rule("ConfigMaps referenced by the API exist in the output", missing.map((n) => `ConfigMap ${n} is not rendered`));

  const strategy = dep.spec?.strategy ?? {};
  const mu = strategy.rollingUpdate?.maxUnavailable;
  rule("RollingUpdate with maxUnavailable 0", strategy.type === "RollingUpdate" && (mu === 0 || mu === "0" || mu === "0%") ? [] : `strategy ${strategy.type ?? "(default)"}, maxUnavailable ${mu ?? "(default 25%)"}`);
  rule("revisionHistoryLimit keeps revisions for rollout undo", (dep.spec?.revisionHistoryLimit ?? 10) >= 2 ? [] : `revisionHistoryLimit ${dep.spec.revisionHistoryLimit}`);

  // Ports: API and admin, matching conduitd's settings.
  const ports = new Map((api.ports ?? []).map((p) => [p.name, p.containerPort]));
  const adminPort = ports.get("admin");
  const httpPort = ports.get("http");
  rule("container ports http and admin declared", [
    httpPort ? null : "no port named http",
    adminPort ? null : "no port named admin",
    httpPort && adminPort && httpPort === adminPort ? "http and admin are the same port" : null,
  ]);
  rule("ports match CONDUIT_LISTEN / CONDUIT_ADMIN_LISTEN", [
    env.CONDUIT_LISTEN !== undefined && portOf(env.CONDUIT_LISTEN) !== httpPort ? `CONDUIT_LISTEN ${env.CONDUIT_LISTEN} vs http port ${httpPort}` : null,
    env.CONDUIT_ADMIN_LISTEN === undefined ? "CONDUIT_ADMIN_LISTEN unset (conduitd would listen on 127.0.0.1:9090, unreachable for probes)" : null,
    env.CONDUIT_ADMIN_LISTEN !== undefined && portOf(env.CONDUIT_ADMIN_LISTEN) !== adminPort ? `CONDUIT_ADMIN_LISTEN ${env.CONDUIT_ADMIN_LISTEN} vs admin port ${adminPort}` : null,
    env.CONDUIT_ADMIN_LISTEN !== undefined && /^127\.|^localhost:|^\[::1\]/.test(env.CONDUIT_ADMIN_LISTEN) ? "admin listens on loopback only" : null,
  ]);

  // Probes on the admin port.
  const probe = (p, name, path) => {
    if (!p) return `${name} missing`;
    if (!p.httpGet) return `${name} is not an httpGet probe`;
    const port = resolvePort(p.httpGet.port, api);
    const out = [];
    if (port !== adminPort) out.push(`${name} on port ${p.httpGet.port}, not the admin port ${adminPort}`);
    if (path && p.httpGet.path !== path) out.push(`${name} path ${p.httpGet.path}, expected ${path}`);
    return out;
  };
  rule("startup, liveness (/healthz) and readiness (/readyz) probes on the admin port", [
    ...[probe(api.startupProbe, "startupProbe", null)].flat(),
    ...[probe(api.livenessProbe, "livenessProbe", "/healthz")].flat(),
    ...[probe(api.readinessProbe, "readinessProbe", "/readyz")].flat(),
  ]);

  // Grace period arithmetic.
  const preStop = preStopSeconds(api);
  const drainRaw = env.CONDUIT_SHUTDOWN_TIMEOUT;
  const drain = drainRaw === undefined ? DEFAULT_SHUTDOWN_TIMEOUT : Number(drainRaw);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  rule("preStop delay (sleep N)", Number.isFinite(preStop) && preStop > 0 ? [] : "no preStop sleep on the API container");
  rule(`terminationGracePeriodSeconds > preStop + CONDUIT_SHUTDOWN_TIMEOUT (${grace} > ${preStop} + ${drain})`,
    Number.isFinite(drain) && Number.isFinite(preStop) && grace > preStop + drain ? [] : `grace ${grace} s is not above preStop ${preStop} s + drain ${drainRaw ?? DEFAULT_SHUTDOWN_TIMEOUT} s`);

  // Workers match the CPU request.
  const cpu = cpuCores(api.resources?.requests?.cpu);
  const wantWorkers = Math.max(1, Math.ceil(cpu - 1e-9));
  rule(`CONDUIT_WORKERS matches the CPU request (${api.resources?.requests?.cpu} -> ${Number.isFinite(cpu) ? wantWorkers : "?"})`,
    !Number.isFinite(cpu) ? "no CPU request" : String(env.CONDUIT_WORKERS) === String(wantWorkers) ? [] : `CONDUIT_WORKERS=${env.CONDUIT_WORKERS ?? "(unset: one per CPU of the node)"} but the CPU request is ${api.resources.requests.cpu}`);

  rule("pods spread across nodes", (pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === "kubernetes.io/hostname") || pod.affinity?.podAntiAffinity ? [] : "no topologySpreadConstraint on kubernetes.io/hostname and no podAntiAffinity");

  // Secrets referenced, never rendered with values.
  const secretRefs = (api.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
  rule("JWT_SECRET and DATABASE_URL come from a Secret", ["JWT_SECRET", "DATABASE_URL"].filter((n) => !secretRefs.includes(n)).map((n) => `${n} is not a secretKeyRef`));
  rule("no Secret with values in the manifests", objects.filter((o) => o.kind === "Secret" && (Object.keys(o.data ?? {}).length || Object.keys(o.stringData ?? {}).length)).map((o) => `Secret ${o.metadata?.name} carries values`));
  rule("no plain-text secrets in env or ConfigMaps", [
    ...[...configMaps.values()].flatMap((cm) => Object.keys(cm.data ?? {}).filter((k) => /SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL/i.test(k)).map((k) => `ConfigMap ${cm.metadata.name} has ${k}`)),
    ...workloads.flatMap((w) => (podSpecOf(w)?.containers ?? []).flatMap((c) => (c.env ?? []).filter((e) => e.value !== undefined && /SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL/i.test(e.name)).map((e) => `${w.kind}/${w.metadata.name} sets ${e.name} in plain text`))),
  ]);
  rule("settings ConfigMap has a content-hash name (configMapGenerator)", (api.envFrom ?? []).map((s) => s.configMapRef?.name).filter(Boolean).length === 0 ? "the API reads no ConfigMap" :
    (api.envFrom ?? []).map((s) => s.configMapRef?.name).filter((n) => n && !/-[a-z0-9]{10}$/.test(n)).map((n) => `${n} has no hash suffix: rollout undo would not restore the old settings`));

  // --- every workload: security context, resources, images -----------------
  const secProblems = [];
  const resProblems = [];
  const imgProblems = [];
  for (const w of workloads) {
    const spec = podSpecOf(w) ?? {};
    const id = `${w.kind}/${w.metadata?.name}`;
    const psc = spec.securityContext ?? {};
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) secProblems.push(`${id}: uses a host namespace`);
    if (spec.automountServiceAccountToken !== false) secProblems.push(`${id}: automountServiceAccountToken is not false`);
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) secProblems.push(`${cid}: runAsNonRoot is not true`);
      const uid = sc.runAsUser ?? psc.runAsUser;
      if (uid !== undefined && uid < 10000) secProblems.push(`${cid}: runAsUser ${uid} < 10000`);
      if (sc.readOnlyRootFilesystem !== true) secProblems.push(`${cid}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) secProblems.push(`${cid}: allowPrivilegeEscalation is not false`);
      if (sc.privileged === true) secProblems.push(`${cid}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) secProblems.push(`${cid}: capabilities.drop lacks ALL`);
      if ((sc.capabilities?.add ?? []).length) secProblems.push(`${cid}: adds capabilities ${sc.capabilities.add.join(",")}`);
      if ((sc.seccompProfile?.type ?? psc.seccompProfile?.type) !== "RuntimeDefault") secProblems.push(`${cid}: seccompProfile is not RuntimeDefault`);
      const r = c.resources ?? {};
      if (r.requests?.cpu === undefined) resProblems.push(`${cid}: no CPU request`);
      if (r.requests?.memory === undefined) resProblems.push(`${cid}: no memory request`);
      if (r.limits?.memory === undefined) resProblems.push(`${cid}: no memory limit`);
      const ip = imageProblems(c.image, opts.image);
      if (ip) imgProblems.push(`${cid}: ${ip}`);
    }
  }
  rule("non-root, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault", secProblems);
  rule("CPU and memory requests and a memory limit on every container", resProblems);
  rule("images tagged, never :latest" + (opts.image ? ` (and equal to ${opts.image})` : ""), imgProblems);

  // --- the admin port stays private -----------------------------------------
  const svcProblems = [];
  for (const s of services) {
    for (const p of s.spec?.ports ?? []) {
      const target = p.targetPort ?? p.port;
      if (target === "admin" || target === adminPort || p.port === adminPort || p.name === "admin") {
        svcProblems.push(`Service ${s.metadata?.name} exposes the admin port (${p.name ?? ""} ${p.port} -> ${target})`);
      }
    }
    if (s.spec?.type === "LoadBalancer" || s.spec?.type === "NodePort") {
      if (!(s.spec?.ports ?? []).every((p) => (p.targetPort ?? p.port) === "http" || (p.targetPort ?? p.port) === httpPort)) svcProblems.push(`Service ${s.metadata?.name} (${s.spec.type}) exposes more than the API port`);
    }
  }
  for (const ing of objects.filter((o) => o.kind === "Ingress")) {
    const backends = [ing.spec?.defaultBackend, ...(ing.spec?.rules ?? []).flatMap((r) => (r.http?.paths ?? []).map((p) => p.backend))].filter(Boolean);
    for (const b of backends) {
      const port = b.service?.port;
      if (port?.name === "admin" || port?.number === adminPort) svcProblems.push(`Ingress ${ing.metadata?.name} routes to the admin port`);
    }
  }
  const apiSvc = services.filter((s) => labelsMatch({ matchLabels: s.spec?.selector ?? {} }, podLabels));
  rule("a Service for the API port", apiSvc.some((s) => (s.spec?.ports ?? []).some((p) => resolvePort(p.targetPort ?? p.port, api) === httpPort)) ? [] : "no Service selects the API pods on the API port");
  rule("the admin port is in no Service or Ingress", svcProblems);

  // --- the companions ---------------------------------------------------------
  const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget" && labelsMatch(o.spec?.selector, podLabels));
  rule("a PodDisruptionBudget selects the API pods", pdbs.length ? [] : "none");
  const hpas = objects.filter((o) => o.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef?.kind === "Deployment" && o.spec?.scaleTargetRef?.name === "conduitd");
  rule("a HorizontalPodAutoscaler scales the Deployment (at least 2 replicas)", hpas.length !== 1 ? `${hpas.length} HPAs target it` : (hpas[0].spec?.minReplicas ?? 1) >= 2 ? [] : `minReplicas ${hpas[0].spec?.minReplicas ?? 1}: a single pod cannot roll or drain without downtime`);
  rule("the Deployment leaves replicas to the HPA", dep.spec?.replicas === undefined ? [] : `replicas: ${dep.spec.replicas} would reset the HPA's count on every apply`);

  const nps = objects.filter((o) => o.kind === "NetworkPolicy" && labelsMatch(o.spec?.podSelector, podLabels));
  const npProblems = [];
  if (nps.length === 0) npProblems.push("no NetworkPolicy selects the API pods");
  for (const np of nps) {
    const types = np.spec?.policyTypes ?? [];
    if (!types.includes("Ingress") || !types.includes("Egress")) npProblems.push(`${np.metadata.name}: policyTypes ${types.join(",")} (need Ingress and Egress)`);
    for (const r of np.spec?.ingress ?? []) {
      if (!r.ports?.length) npProblems.push(`${np.metadata.name}: an ingress rule allows every port`);
      for (const p of r.ports ?? []) if (![httpPort, adminPort, "http", "admin"].includes(p.port)) npProblems.push(`${np.metadata.name}: ingress to port ${p.port}`);
    }
    for (const r of np.spec?.egress ?? []) {
      if (!r.ports?.length) npProblems.push(`${np.metadata.name}: an egress rule allows every port`);
      for (const p of r.ports ?? []) if (![5432, 6379, 53].includes(p.port)) npProblems.push(`${np.metadata.name}: egress to port ${p.port} (only PostgreSQL 5432, Redis 6379, DNS 53)`);
    }
  }
  rule("NetworkPolicy: ingress to API/admin only, egress to PostgreSQL, Redis, DNS only", npProblems);

  const annotations = dep.spec?.template?.metadata?.annotations ?? {};
  const scrapeByAnnotation = annotations["prometheus.io/scrape"] === "true" && Number(annotations["prometheus.io/port"]) === adminPort;
  const scrapeByMonitor = objects.some((o) => (o.kind === "PodMonitor" && (o.spec?.podMetricsEndpoints ?? []).some((e) => e.port === "admin")) ||
    (o.kind === "ServiceMonitor" && (o.spec?.endpoints ?? []).some((e) => e.port === "admin")));
  rule("Prometheus scrapes the admin port", scrapeByAnnotation || scrapeByMonitor ? [] : "no prometheus.io annotations for the admin port and no PodMonitor/ServiceMonitor on it");

  // Monitoring that cannot silently see nothing: prometheus-operator ignores a PodMonitor or
  // PrometheusRule whose labels its selectors do not match. Both must carry the selector label
  // (kube-prometheus-stack: `release: <Helm release>`), the same value on both, and the
  // NetworkPolicy must let a named namespace (Prometheus's) reach the admin port.
  const monProblems = [];
  const pm = objects.filter((o) => o.kind === "PodMonitor");
  const pr = objects.filter((o) => o.kind === "PrometheusRule");
  if (pm.length !== 1 || pr.length !== 1) monProblems.push(`${pm.length} PodMonitors, ${pr.length} PrometheusRules (want one each)`);
  else {
    const a = pm[0].metadata?.labels?.release, b = pr[0].metadata?.labels?.release;
    if (!a) monProblems.push("the PodMonitor has no `release` label: kube-prometheus-stack's podMonitorSelector would not select it");
    if (!b) monProblems.push("the PrometheusRule has no `release` label: kube-prometheus-stack's ruleSelector would not select it");
    if (a && b && a !== b) monProblems.push(`PodMonitor release=${a} but PrometheusRule release=${b}`);
  }
  const adminFrom = nps.flatMap((np) => (np.spec?.ingress ?? []).filter((r) => (r.ports ?? []).some((p) => [adminPort, "admin"].includes(p.port))).flatMap((r) => r.from ?? [{}]));
  if (!adminFrom.length) monProblems.push("no ingress rule admits Prometheus to the admin port");
  for (const f of adminFrom) {
    if (!f.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"]) monProblems.push(`admin port open to ${JSON.stringify(f)}: name Prometheus's namespace (kubernetes.io/metadata.name)`);
  }
  rule("monitoring: PodMonitor and PrometheusRule carry the Prometheus selector label; Prometheus's namespace may scrape", monProblems);

  const jobs = objects.filter((o) => o.kind === "Job" && (podSpecOf(o)?.containers ?? []).some((c) => [...(c.command ?? []), ...(c.args ?? [])].includes("migrate")));
  rule("a migration Job runs `conduitd migrate` with the API's image", jobs.length !== 1 ? `${jobs.length} migration Jobs` :
    podSpecOf(jobs[0]).containers[0].image === api.image ? [] : `Job image ${podSpecOf(jobs[0]).containers[0].image} differs from ${api.image}`);
  if (jobs.length === 1) {
    rule("the migration Job cannot hang a deploy (activeDeadlineSeconds, backoffLimit)", jobs[0].spec?.activeDeadlineSeconds > 0 && (jobs[0].spec?.backoffLimit ?? 6) <= 3 ? [] : `activeDeadlineSeconds ${jobs[0].spec?.activeDeadlineSeconds}, backoffLimit ${jobs[0].spec?.backoffLimit ?? 6}`);
  }

  if (opts.namespace) {
    rule(`every namespaced object is in ${opts.namespace}`, objects.filter((o) => !CLUSTER_SCOPED.has(o.kind) && o.metadata?.namespace !== opts.namespace).map((o) => `${o.kind}/${o.metadata?.name} in ${o.metadata?.namespace ?? "(none)"}`));
  }

  // --- recovery budget, deploy side ----------------------------------------
  // A bad rollout is declared failed after progressDeadlineSeconds at most;
  // undoing it rolls maxReplicas pods back one surge at a time, each needing
  // to start, pass its startup and readiness probes and stay ready for
  // minReadySeconds.
  const progress = dep.spec?.progressDeadlineSeconds ?? 600;
  const maxReplicas = hpas[0]?.spec?.maxReplicas ?? dep.spec?.replicas ?? 1;
  const sp = api.startupProbe ?? {};
  const rp = api.readinessProbe ?? {};
  const perPod = POD_START_ALLOWANCE + (sp.initialDelaySeconds ?? 0) + (sp.periodSeconds ?? 10) + (rp.initialDelaySeconds ?? 0) + (rp.periodSeconds ?? 10) * (rp.successThreshold ?? 1) + (dep.spec?.minReadySeconds ?? 0);
  const surge = Number.isInteger(strategy.rollingUpdate?.maxSurge) ? strategy.rollingUpdate.maxSurge : 1;
  const undo = Math.ceil(maxReplicas / Math.max(1, surge)) * perPod;
  const total = progress + undo + PIPELINE_OVERHEAD;
  rule(`recovery budget: progressDeadline ${progress} s + undo ${Math.ceil(maxReplicas / Math.max(1, surge))}x${perPod} s + overhead ${PIPELINE_OVERHEAD} s = ${total} s <= ${RECOVERY_BUDGET} s`,
    total <= RECOVERY_BUDGET ? [] : `${total} s exceeds the 15-minute budget`);

  return finish();
}

function finish() {
  return results.slice();
}

function main(argv) {
  const opts = {};
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--namespace") opts.namespace = argv[++i];
    else if (argv[i] === "--image") opts.image = argv[++i];
    else files.push(argv[i]);
  }
  if (files.length !== 1) {
    console.error("usage: node k8s-policy.mjs [--namespace NS] [--image IMAGE] FILE");
    return 2;
  }
  const objects = parseDocs(readFileSync(files[0] === "-" ? 0 : files[0], "utf8"), files[0]);
  const res = checkManifests(objects, opts);
  let bad = 0;
  for (const r of res) {
    if (r.problems.length === 0) console.log(`ok   ${r.name}`);
    else {
      bad++;
      for (const p of r.problems) console.log(`FAIL ${r.name}: ${p}`);
    }
  }
  console.log(`k8s-policy: ${res.length} rules, ${bad} broken`);
  return bad ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
