// Validates rendered Kubernetes manifests (a multi-document YAML stream on
// stdin, from `kubectl kustomize`) offline: every object against the
// Kubernetes schemas (kubernetes-models, Kubernetes 1.27; ServiceMonitor from
// the Prometheus Operator's), then the invariants meshsim depends on, which
// a schema cannot see. Prints each problem and exits 1 if there is any.
//
//   kubectl kustomize deploy/kubernetes/base | node validate_kubernetes.mjs
import fs from "node:fs";
import yaml from "js-yaml";

const modules = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

const problems = [];
const problem = (what, message) => problems.push(`${what}: ${message}`);
const docs = yaml.loadAll(fs.readFileSync(0, "utf8")).filter(Boolean);
const named = (kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const id = (d) => `${d.kind}/${d.metadata.name}`;

// 1. The schemas.
for (const doc of docs) {
  const module = modules[doc.apiVersion];
  if (!module) {
    problem(id(doc), `no schema for apiVersion ${doc.apiVersion}`);
    continue;
  }
  const Model = (await import(module))[doc.kind];
  if (!Model) {
    problem(id(doc), `no schema for kind ${doc.kind} in ${doc.apiVersion}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (error) {
    problem(id(doc), `does not match the ${doc.apiVersion} ${doc.kind} schema: ${error.message}`);
  }
  if (doc.kind !== "Namespace" && doc.metadata.namespace !== "meshsim") {
    problem(id(doc), `is in namespace ${doc.metadata.namespace}, not meshsim`);
  }
}

const matches = (selector, labels) =>
  Object.entries(selector.matchLabels || {}).every(([k, v]) => labels?.[k] === v);
const flag = (args, name) => args.find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
const env = (container, name) => container.env?.find((e) => e.name === name);

// 2. Every workload: secure, bounded, probed on /metrics, writable only
// where it must write.
const workloads = docs.filter((d) => d.kind === "StatefulSet");
for (const set of workloads) {
  const what = id(set);
  const pod = set.spec.template;
  if (!matches(set.spec.selector, pod.metadata.labels)) problem(what, "selector does not match its pod labels");
  if (!named("Service", set.spec.serviceName)) problem(what, `serviceName ${set.spec.serviceName} has no Service`);
  const podSecurity = pod.spec.securityContext || {};
  if (podSecurity.runAsNonRoot !== true || !(podSecurity.runAsUser > 0)) problem(what, "pods must run as non-root");
  if (podSecurity.seccompProfile?.type !== "RuntimeDefault") problem(what, "seccompProfile must be RuntimeDefault");
  const volumes = Object.fromEntries((pod.spec.volumes || []).map((v) => [v.name, v]));
  for (const template of set.spec.volumeClaimTemplates || []) volumes[template.metadata.name] = { claim: template };
  for (const c of [...(pod.spec.initContainers || []), ...pod.spec.containers]) {
    const where = `${what} container ${c.name}`;
    if (!/^meshsim(:|@|$)/.test(c.image)) problem(where, `image ${c.image} is not meshsim's`);
    const security = c.securityContext || {};
    if (security.readOnlyRootFilesystem !== true) problem(where, "root filesystem must be read-only");
    if (security.allowPrivilegeEscalation !== false) problem(where, "must not allow privilege escalation");
    if (!security.capabilities?.drop?.includes("ALL")) problem(where, "must drop all capabilities");
    for (const kind of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        if (!c.resources?.[kind]?.[resource]) problem(where, `no ${resource} in resources.${kind}`);
      }
    }
  }
  const keyFiles = { coordinator: "coordinator.key_secret", nodes: "node.key_secret" };
  for (const c of pod.spec.containers) {
    const where = `${what} container ${c.name}`;
    // Keys (docs/security.md): CURVE everywhere, never --insecure; the key
    // directory an in-memory volume an init container fills from the Secret.
    if ((c.args || []).includes("--insecure")) problem(where, "runs with --insecure: it must use the cluster's keys");
    const keysDir = env(c, "MESHSIM_KEYS")?.value;
    const keysMount = (c.volumeMounts || []).find((m) => m.mountPath === keysDir);
    if (!keysDir || !keysMount) {
      problem(where, "MESHSIM_KEYS must name a mounted key directory");
    } else {
      const keysVolume = volumes[keysMount.name];
      if (keysVolume?.emptyDir?.medium !== "Memory") problem(where, "the key directory must be an in-memory emptyDir");
      const filler = (pod.spec.initContainers || []).find((i) =>
        (i.volumeMounts || []).some((m) => m.name === keysMount.name));
      const secretVolume = filler && (filler.volumeMounts || [])
        .map((m) => volumes[m.name])
        .find((v) => v?.secret?.secretName === "meshsim-keys");
      if (!secretVolume) problem(where, "no init container fills the key directory from the Secret meshsim-keys");
      const paths = (secretVolume?.secret?.items || []).map((i) => i.path);
      const own = keyFiles[set.metadata.name];
      for (const needed of ["coordinator.key", own].filter(Boolean)) {
        if (!paths.includes(needed)) problem(where, `the key directory lacks ${needed}`);
      }
    }
    const metricsPort = Number(flag(c.args, "metrics-port"));
    const portNamed = (p) => (typeof p === "number" ? p : c.ports?.find((q) => q.name === p)?.containerPort);
    for (const probe of ["startupProbe", "livenessProbe"]) {
      const get = c[probe]?.httpGet;
      if (get?.path !== "/metrics" || portNamed(get.port) !== metricsPort) {
        problem(where, `${probe} must GET /metrics on the --metrics-port (${metricsPort})`);
      }
    }
    if (!c.readinessProbe) problem(where, "no readinessProbe");
    const mounts = Object.fromEntries((c.volumeMounts || []).map((m) => [m.mountPath, m.name]));
    if (!volumes[mounts["/tmp"]]) problem(where, "/tmp must be a volume (the root filesystem is read-only)");
    for (const mount of Object.values(mounts)) {
      if (!volumes[mount]) problem(where, `mounts ${mount}, which is not a volume of the pod`);
    }
    const stateDir = flag(c.args, "state-dir");
    if (stateDir && !volumes[mounts[stateDir]]?.claim) {
      problem(where, `--state-dir ${stateDir} must be on a persistent volume claim`);
    }
  }
}

// 3. The coordinator: one replica, its RPC port behind the Service nodes use.
const coordinator = named("StatefulSet", "coordinator");
const coordinatorService = named("Service", "coordinator");
if (!coordinator || !coordinatorService) {
  problem("coordinator", "needs a StatefulSet and a Service named coordinator");
} else {
  const c = coordinator.spec.template.spec.containers[0];
  if (coordinator.spec.replicas !== 1) problem(id(coordinator), "must have exactly one replica");
  const bindPort = Number(flag(c.args, "bind")?.split(":").pop());
  const rpc = coordinatorService.spec.ports.find((p) => p.name === "rpc");
  const target = c.ports.find((p) => p.name === rpc?.targetPort || p.containerPort === rpc?.targetPort);
  if (!rpc || target?.containerPort !== bindPort) {
    problem(id(coordinatorService), `rpc must reach the coordinator's --bind port ${bindPort}`);
  }
  if (!matches({ matchLabels: coordinatorService.spec.selector }, coordinator.spec.template.metadata.labels)) {
    problem(id(coordinatorService), "does not select the coordinator's pods");
  }
}

// 4. The nodes: a `meshsim host` per pod, one pod per machine, /dev/shm in
// memory, a metrics port per node, all of them scraped.
const nodes = named("StatefulSet", "nodes");
if (!nodes) {
  problem("nodes", "needs a StatefulSet named nodes");
} else {
  const what = id(nodes);
  const pod = nodes.spec.template.spec;
  const c = pod.containers[0];
  if (c.args[0] !== "host") problem(what, "must run `meshsim host`");
  if (flag(c.args, "bind-host") !== "0.0.0.0") problem(what, "nodes must bind an address other pods reach");
  const coordinatorEndpoint = env(c, "MESHSIM_COORDINATOR")?.value;
  const rpcPort = coordinatorService?.spec.ports.find((p) => p.name === "rpc")?.port;
  if (coordinatorEndpoint !== `tcp://coordinator:${rpcPort}`) {
    problem(what, `MESHSIM_COORDINATOR ${coordinatorEndpoint} is not the coordinator Service's rpc port`);
  }
  const shm = c.volumeMounts.find((m) => m.mountPath === "/dev/shm");
  const shmVolume = pod.volumes.find((v) => v.name === shm?.name);
  if (shmVolume?.emptyDir?.medium !== "Memory") problem(what, "/dev/shm must be an emptyDir with medium Memory");
  const antiAffinity = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [];
  if (!antiAffinity.some((t) => t.topologyKey === "kubernetes.io/hostname" && matches(t.labelSelector, nodes.spec.template.metadata.labels))) {
    problem(what, "needs required anti-affinity on kubernetes.io/hostname: the nodes of a machine share one pod");
  }
  const count = Number(env(c, "MESHSIM_HOST_NODES")?.value);
  const base = Number(flag(c.args, "metrics-port"));
  const wanted = Array.from({ length: count + 1 }, (_, i) => base + i);
  const containerPorts = c.ports.map((p) => p.containerPort).sort((a, b) => a - b);
  if (JSON.stringify(containerPorts) !== JSON.stringify(wanted)) {
    problem(what, `container ports ${containerPorts} are not the host's and its ${count} nodes' metrics ports ${wanted}`);
  }
  if (!c.readinessProbe?.exec?.command?.join(" ").includes(`healthcheck.sh ${base} $MESHSIM_HOST_NODES`)) {
    problem(what, "readiness must check every node of the pod is registered");
  }
  const service = named("Service", nodes.spec.serviceName);
  const servicePorts = service?.spec.ports.map((p) => p.port).sort((a, b) => a - b);
  if (JSON.stringify(servicePorts) !== JSON.stringify(wanted)) problem(id(service), `ports ${servicePorts}, want ${wanted}`);
  const monitor = named("ServiceMonitor", "meshsim-nodes");
  if (monitor) {
    const scraped = monitor.spec.endpoints.map((e) => e.port).sort();
    const names = service.spec.ports.map((p) => p.name).sort();
    if (JSON.stringify(scraped) !== JSON.stringify(names)) problem(id(monitor), `scrapes ${scraped}, the Service has ${names}`);
  }
  const budget = docs.find((d) => d.kind === "PodDisruptionBudget" && matches(d.spec.selector, nodes.spec.template.metadata.labels));
  if (!budget) problem(what, "no PodDisruptionBudget covers the nodes");
  for (const [key, value] of Object.entries(nodes.spec.template.metadata.annotations || {})) {
    if (key === "prometheus.io/port" && Number(value) !== base) problem(what, "prometheus.io/port is not the host's metrics port");
  }
}

for (const p of problems) console.log(`problem: ${p}`);
console.log(`${docs.length} objects checked: ${docs.map(id).join(", ")}; ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
