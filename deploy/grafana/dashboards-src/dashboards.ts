// The Grafana dashboards (../dashboards/cluster.json, simulation.json), built with
// Grafana's own typed builders (@grafana/grafana-foundation-sdk, generated
// for the Grafana version docker/compose.yaml runs): a panel option Grafana
// does not have fails to compile. The JSON files are committed; edit the
// panels here and run ./generate.sh.
//
// Every panel: a title, a unit and a description a newcomer understands, and
// PromQL that tests/integration/metrics_test.cc runs against a real
// Prometheus scraping a real cluster (each expression must return a series).
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import * as common from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder, DataSourceRef, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import * as units from "@grafana/grafana-foundation-sdk/units";

// deploy/grafana/provisioning/datasources/prometheus.yml provisions it.
const DATASOURCE: DataSourceRef = { type: "prometheus", uid: "meshsim-prometheus" };

interface Target {
  expr: string;
  legend: string;
}

interface Panel {
  title: string;
  description: string;
  unit: string;
  targets: Target[];
}

// Panels under a heading (a Grafana row); the first section has none.
interface Section {
  row?: string;
  panels: Panel[];
}

const target = (expr: string, legend: string): Target => ({ expr, legend });

function rate(metric: string, by?: string): string {
  const grouping = by ? ` by (${by})` : "";
  return `sum${grouping} (rate(${metric}[$__rate_interval]))`;
}

function quantile(q: number, metric: string, by?: string): string {
  const extra = by ? `, ${by}` : "";
  return `histogram_quantile(${q}, sum by (le${extra}) (rate(${metric}_bucket[$__rate_interval])))`;
}

const CLUSTER: Panel[] = [
  {
    title: "Nodes by state",
    description:
      "Node processes the coordinator knows: READY (idle), BUSY (in a job) and LOST (missed heartbeats beyond the timeout).",
    unit: units.Short,
    targets: [target("sum by (state) (meshsim_coordinator_nodes)", "{{state}}")],
  },
  {
    title: "Jobs by state",
    description:
      "Jobs the coordinator holds: queued, assigning, running, recovering (a node was lost; restarting from a checkpoint), and finished ones kept for `meshsim status`.",
    unit: units.Short,
    targets: [target("sum by (state) (meshsim_coordinator_jobs)", "{{state}}")],
  },
  {
    title: "Jobs finished",
    description: "Jobs ending per second, by final state (COMPLETED, FAILED, CANCELLED).",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_coordinator_jobs_finished_total", "state"), "{{state}}")],
  },
  {
    title: "Job duration",
    description:
      "Wall time from a job's start on its nodes to its end: median and 95th percentile of the jobs that ended in the interval.",
    unit: units.Seconds,
    targets: [
      target(quantile(0.5, "meshsim_coordinator_job_duration_seconds"), "p50"),
      target(quantile(0.95, "meshsim_coordinator_job_duration_seconds"), "p95"),
    ],
  },
  {
    title: "RPC requests by method",
    description: "Control-plane RPCs answered per second, by method, on every process (coordinator and nodes).",
    unit: units.RequestsPerSecond,
    targets: [target(rate("meshsim_rpc_requests_total", "method"), "{{method}}")],
  },
  {
    title: "RPC requests by status",
    description: "RPCs answered per second by status code; anything but OK is an error returned to the caller.",
    unit: units.RequestsPerSecond,
    targets: [target(rate("meshsim_rpc_requests_total", "code"), "{{code}}")],
  },
  {
    title: "RPC latency (p95)",
    description: "95th percentile time from receiving an RPC to sending its reply, by method.",
    unit: units.Seconds,
    targets: [target(quantile(0.95, "meshsim_rpc_request_duration_seconds", "method"), "{{method}}")],
  },
  {
    title: "Malformed input dropped",
    description:
      "Requests and data frames dropped because they were malformed, stale or unexpected (per second). Should be zero; anything else is a bad client or a bug.",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_rpc_malformed_requests_total", "job"), "rpc {{job}}"),
      target(rate("meshsim_node_frames_dropped_total"), "data frames"),
    ],
  },
  {
    title: "CPU per process",
    description: "CPU time each meshsim process uses, as a fraction of one core.",
    unit: units.PercentUnit,
    targets: [target("rate(process_cpu_seconds_total[$__rate_interval])", "{{job}} {{instance}}")],
  },
  {
    title: "Memory per process",
    description: "Resident memory of each meshsim process.",
    unit: units.BytesIEC,
    targets: [target("process_resident_memory_bytes", "{{job}} {{instance}}")],
  },
  {
    title: "Builds running",
    description: "Processes by meshsim version, git revision and role.",
    unit: units.Short,
    targets: [target("sum by (version, revision, role) (meshsim_build_info)", "{{role}} {{version}} {{revision}}")],
  },
  // Durability (docs/durability.md)
  {
    title: "Checkpoints",
    description:
      "Complete checkpoints stored per second (every rank's part in place), and parts the coordinator could not store or found damaged, by reason. Failures never stop a job; a full disk shows here first.",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_coordinator_checkpoints_total"), "complete"),
      target(rate("meshsim_coordinator_checkpoint_failures_total", "reason"), "failed: {{reason}}"),
    ],
  },
  {
    title: "Checkpoint bytes",
    description: "Bytes of checkpoint parts stored per second.",
    unit: units.BytesPerSecondSI,
    targets: [target(rate("meshsim_coordinator_checkpoint_bytes_total"), "stored")],
  },
  {
    title: "Checkpoint cost",
    description:
      "The window loop's pause to save a part on a node (p95), the background upload (p95), and the coordinator's write, sync and check of a part (p95).",
    unit: units.Seconds,
    targets: [
      target(quantile(0.95, "meshsim_node_checkpoint_save_seconds"), "save (node)"),
      target(quantile(0.95, "meshsim_node_checkpoint_upload_seconds"), "upload (node)"),
      target(quantile(0.95, "meshsim_coordinator_checkpoint_part_write_seconds"), "write (coordinator)"),
    ],
  },
  {
    title: "Recoveries",
    description:
      "Job restarts after a lost node, and windows run again because a restart went back to a checkpoint (per second).",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_coordinator_job_restarts_total"), "restarts"),
      target(rate("meshsim_coordinator_replayed_windows_total"), "replayed windows"),
    ],
  },
  {
    title: "State directory size",
    description: "The coordinator's database (with its write-ahead log) and its stored checkpoint parts.",
    unit: units.BytesIEC,
    targets: [
      target("meshsim_coordinator_state_db_bytes", "database"),
      target("meshsim_coordinator_checkpoint_store_bytes", "checkpoints"),
    ],
  },
  {
    title: "State write failures",
    description:
      "Writes to the coordinator's database that failed and are being retried (per second). Anything but zero: the disk is full or failing.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_coordinator_state_write_failures_total"), "failed writes")],
  },
];

const SIMULATION: Panel[] = [
  {
    title: "Event rate per node",
    description: "Simulation events each node processes per second. The sum over nodes is the job's event rate.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_events_processed_total", "instance"), "{{instance}}")],
  },
  {
    title: "Window rate per node",
    description:
      "Synchronization windows each node completes per second. Nodes of one job move in lockstep, so their lines coincide.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_windows_total", "instance"), "{{instance}}")],
  },
  {
    title: "Window duration",
    description:
      "Wall time of one window (processing its events and exchanging frames with every peer): median and 99th percentile.",
    unit: units.Seconds,
    targets: [
      target(quantile(0.5, "meshsim_node_window_duration_seconds"), "p50"),
      target(quantile(0.99, "meshsim_node_window_duration_seconds"), "p99"),
    ],
  },
  {
    title: "Frames per transport",
    description:
      "Data frames sent between nodes per second, by transport: shm between nodes that share a host, tcp otherwise. One frame per peer per window.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_link_messages_sent_total", "transport"), "{{transport}}")],
  },
  {
    title: "Bytes per transport",
    description: "Data-plane bytes sent between nodes per second, by transport.",
    unit: units.BytesPerSecondSI,
    targets: [target(rate("meshsim_node_link_sent_bytes_total", "transport"), "{{transport}}")],
  },
  {
    title: "Events between nodes",
    description: "Simulation events carried between nodes per second, by transport.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_link_events_sent_total", "transport"), "{{transport}}")],
  },
  {
    title: "Event queue depth",
    description: "Events pending in each node's queue at the end of its last window.",
    unit: units.Short,
    targets: [target("meshsim_node_event_queue_depth", "{{instance}}")],
  },
  {
    title: "Ring occupancy",
    description:
      "Bytes in each shared-memory ring that its reader has not taken yet, right after a frame is written. Near the ring size means the reader lags.",
    unit: units.BytesIEC,
    targets: [target("meshsim_node_ring_occupancy_bytes", "{{instance}} to node {{peer}}")],
  },
  {
    title: "Frame waits (shm)",
    description:
      "Frames from shared-memory peers per second, by how long each kept its node waiting: ready (already there), polled (under 2 us), yielded (polling between yields of the core, up to 1 ms), slept (on the futex). Many yielded or slept frames: nodes share CPUs, or one node has more work per window than the others.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_frame_waits_total", "how"), "{{how}}")],
  },
  {
    title: "Virtual time",
    description: "Virtual time each node's current (or last) job has reached; it climbs to the scenario's end_time.",
    unit: units.NoUnit,
    targets: [target("meshsim_node_virtual_time", "{{instance}}")],
  },
  {
    title: "Mailbox traffic",
    description: "Mailbox posts per second and the deliveries they fan out to (one per subscriber).",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_node_mailbox_posts_total"), "posts"),
      target(rate("meshsim_node_mailbox_deliveries_total"), "deliveries"),
      target(rate("meshsim_node_mailbox_remote_events_total"), "sent to other nodes"),
    ],
  },
];

// Jobs with `sync: optimistic` (docs/synchronization.md, Time Warp). The
// series exist at zero on every node, so the panels are flat for
// conservative jobs.
const OPTIMISTIC: Panel[] = [
  {
    title: "GVT per node",
    description:
      "Global virtual time of each node's optimistic job: no event earlier than it can happen any more, so everything below it is committed. The nodes of one job agree on it within a GVT round; the progress bar follows it.",
    unit: units.NoUnit,
    targets: [target("meshsim_node_gvt", "{{instance}}")],
  },
  {
    title: "GVT rounds",
    description:
      "GVT rounds each node completes per second. A round is a cut carried on data frames; each one commits what lies below the new GVT and frees its saved states.",
    unit: units.OpsPerSecond,
    targets: [target(rate("meshsim_node_gvt_rounds_total", "instance"), "{{instance}}")],
  },
  {
    title: "Events run and undone",
    description:
      "Events run ahead of GVT per second, and those a rollback undid. Their difference is the committed rate (Event rate per node).",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_node_optimistic_events_run_total"), "run"),
      target(rate("meshsim_node_rolled_back_events_total"), "rolled back"),
    ],
  },
  {
    title: "Efficiency",
    description:
      "Committed events as a fraction of events run, per node. Under about 80% the nodes run too far ahead of each other: the window past GVT shrinks by itself, or set optimism.time_window.",
    unit: units.PercentUnit,
    targets: [
      target(
        `1 - ${rate("meshsim_node_rolled_back_events_total", "instance")} / ${rate("meshsim_node_optimistic_events_run_total", "instance")}`,
        "{{instance}}",
      ),
    ],
  },
  {
    title: "Rollbacks and anti-messages",
    description:
      "Rollbacks per second (an LP put back before a late event or an anti-message) and anti-messages between nodes, by direction. Every anti-message sent is received by one node.",
    unit: units.OpsPerSecond,
    targets: [
      target(rate("meshsim_node_rollbacks_total"), "rollbacks"),
      target(rate("meshsim_node_anti_messages_total", "direction"), "anti-messages {{direction}}"),
    ],
  },
  {
    title: "Saved state",
    description:
      "Memory each node keeps to undo the events it ran ahead of GVT (LP states, streams, sends). Freed as GVT passes; optimism.max_saved_events bounds it.",
    unit: units.BytesIEC,
    targets: [target("meshsim_node_saved_state_bytes", "{{instance}}")],
  },
];

// Half the width, 8 units high; the dashboard builder lays panels out two
// a line, a row heading on a line of its own.
function timeseries(panel: Panel, id: number): PanelBuilder {
  const builder = new PanelBuilder()
    .id(id)
    .title(panel.title)
    .description(panel.description)
    .unit(panel.unit)
    .datasource(DATASOURCE)
    .gridPos({ h: 8, w: 12, x: 0, y: 0 })
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true),
    );
  panel.targets.forEach((t, i) =>
    builder.withTarget(
      new DataqueryBuilder()
        .expr(t.expr)
        .legendFormat(t.legend)
        .datasource(DATASOURCE)
        .refId(String.fromCharCode("A".charCodeAt(0) + i)),
    ),
  );
  return builder;
}

function dashboard(uid: string, title: string, description: string, sections: Section[]): DashboardBuilder {
  const builder = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(["meshsim"])
    .editable()
    .refresh("5s")
    .time({ from: "now-15m", to: "now" })
    .timezone("browser");
  let id = 0;  // panel ids in order, rows included
  for (const section of sections) {
    if (section.row) builder.withRow(new RowBuilder(section.row).id(++id));
    for (const panel of section.panels) builder.withPanel(timeseries(panel, ++id));
  }
  return builder;
}

const DASHBOARDS: [string, DashboardBuilder][] = [
  [
    "cluster.json",
    dashboard(
      "meshsim-cluster",
      "meshsim / Cluster",
      "Nodes, jobs, the control plane (RPC) and durability (checkpoints, recoveries, state) of a meshsim cluster.",
      [{ panels: CLUSTER }],
    ),
  ],
  [
    "simulation.json",
    dashboard(
      "meshsim-simulation",
      "meshsim / Simulation",
      "What the nodes simulate: event and window rates, the data plane per transport, queues, rings, virtual time and mailboxes; for optimistic jobs GVT, rollbacks, anti-messages and saved state.",
      [{ panels: SIMULATION }, { row: "Optimistic synchronization", panels: OPTIMISTIC }],
    ),
  ],
];

// node dashboards.js OUT_DIR
const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node dashboards.js OUT_DIR");
  process.exit(2);
}
for (const [file, builder] of DASHBOARDS) {
  writeFileSync(join(outDir, file), JSON.stringify(builder.build(), null, 2) + "\n");
}
