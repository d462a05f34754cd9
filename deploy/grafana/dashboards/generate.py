#!/usr/bin/env python3
"""Writes the Grafana dashboards (cluster.json, simulation.json) next to this
file. The JSON files are committed; edit the panels here and run it again.

Every panel: a title, a unit and a description a newcomer understands, and
PromQL that tests/integration/metrics_test.cc runs against a real Prometheus
scraping a real cluster (each expression must return at least one series).
"""
import json
import pathlib

DATASOURCE = {"type": "prometheus", "uid": "meshsim-prometheus"}


def panel(title, description, unit, targets, kind="timeseries"):
    return {"title": title, "description": description, "unit": unit, "targets": targets, "type": kind}


def target(expr, legend):
    return {"expr": expr, "legendFormat": legend}


def rate(metric, by=None, selector=""):
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{selector}[$__rate_interval]))"


def quantile(q, metric, by=""):
    extra = f", {by}" if by else ""
    return f"histogram_quantile({q}, sum by (le{extra}) (rate({metric}_bucket[$__rate_interval])))"


CLUSTER = [
    panel("Nodes by state", "Node processes the coordinator knows: READY (idle), BUSY (in a job) and LOST "
          "(missed heartbeats beyond the timeout).", "short",
          [target("sum by (state) (meshsim_coordinator_nodes)", "{{state}}")]),
    panel("Jobs by state", "Jobs the coordinator holds: queued, assigning, running, recovering (a node was "
          "lost; restarting from a checkpoint), and finished ones kept for `meshsim status`.", "short",
          [target("sum by (state) (meshsim_coordinator_jobs)", "{{state}}")]),
    panel("Jobs finished", "Jobs ending per second, by final state (COMPLETED, FAILED, CANCELLED).", "ops",
          [target(rate("meshsim_coordinator_jobs_finished_total", "state"), "{{state}}")]),
    panel("Job duration", "Wall time from a job's start on its nodes to its end: median and 95th percentile "
          "of the jobs that ended in the interval.", "s",
          [target(quantile(0.5, "meshsim_coordinator_job_duration_seconds"), "p50"),
           target(quantile(0.95, "meshsim_coordinator_job_duration_seconds"), "p95")]),
    panel("RPC requests by method", "Control-plane RPCs answered per second, by method, on every process "
          "(coordinator and nodes).", "reqps",
          [target(rate("meshsim_rpc_requests_total", "method"), "{{method}}")]),
    panel("RPC requests by status", "RPCs answered per second by status code; anything but OK is an error "
          "returned to the caller.", "reqps",
          [target(rate("meshsim_rpc_requests_total", "code"), "{{code}}")]),
    panel("RPC latency (p95)", "95th percentile time from receiving an RPC to sending its reply, by method.",
          "s", [target(quantile(0.95, "meshsim_rpc_request_duration_seconds", "method"), "{{method}}")]),
    panel("Malformed input dropped", "Requests and data frames dropped because they were malformed, stale "
          "or unexpected (per second). Should be zero; anything else is a bad client or a bug.", "ops",
          [target(rate("meshsim_rpc_malformed_requests_total", "job"), "rpc {{job}}"),
           target(rate("meshsim_node_frames_dropped_total"), "data frames")]),
    panel("CPU per process", "CPU time each meshsim process uses, as a fraction of one core.", "percentunit",
          [target("rate(process_cpu_seconds_total[$__rate_interval])", "{{job}} {{instance}}")]),
    panel("Memory per process", "Resident memory of each meshsim process.", "bytes",
          [target("process_resident_memory_bytes", "{{job}} {{instance}}")]),
    panel("Builds running", "Processes by meshsim version, git revision and role.", "short",
          [target("sum by (version, revision, role) (meshsim_build_info)", "{{role}} {{version}} {{revision}}")]),
    # Durability (docs/durability.md)
    panel("Checkpoints", "Complete checkpoints stored per second (every rank's part in place), and parts "
          "the coordinator could not store or found damaged, by reason. Failures never stop a job; a full "
          "disk shows here first.", "ops",
          [target(rate("meshsim_coordinator_checkpoints_total"), "complete"),
           target(rate("meshsim_coordinator_checkpoint_failures_total", "reason"), "failed: {{reason}}")]),
    panel("Checkpoint bytes", "Bytes of checkpoint parts stored per second.", "Bps",
          [target(rate("meshsim_coordinator_checkpoint_bytes_total"), "stored")]),
    panel("Checkpoint cost", "The window loop's pause to save a part on a node (p95), the background upload "
          "(p95), and the coordinator's write, sync and check of a part (p95).", "s",
          [target(quantile(0.95, "meshsim_node_checkpoint_save_seconds"), "save (node)"),
           target(quantile(0.95, "meshsim_node_checkpoint_upload_seconds"), "upload (node)"),
           target(quantile(0.95, "meshsim_coordinator_checkpoint_part_write_seconds"), "write (coordinator)")]),
    panel("Recoveries", "Job restarts after a lost node, and windows run again because a restart went back "
          "to a checkpoint (per second).", "ops",
          [target(rate("meshsim_coordinator_job_restarts_total"), "restarts"),
           target(rate("meshsim_coordinator_replayed_windows_total"), "replayed windows")]),
    panel("State directory size", "The coordinator's database (with its write-ahead log) and its stored "
          "checkpoint parts.", "bytes",
          [target("meshsim_coordinator_state_db_bytes", "database"),
           target("meshsim_coordinator_checkpoint_store_bytes", "checkpoints")]),
    panel("State write failures", "Writes to the coordinator's database that failed and are being retried "
          "(per second). Anything but zero: the disk is full or failing.", "ops",
          [target(rate("meshsim_coordinator_state_write_failures_total"), "failed writes")]),
]

SIMULATION = [
    panel("Event rate per node", "Simulation events each node processes per second. The sum over nodes is "
          "the job's event rate.", "ops",
          [target(rate("meshsim_node_events_processed_total", "instance"), "{{instance}}")]),
    panel("Window rate per node", "Synchronization windows each node completes per second. Nodes of one "
          "job move in lockstep, so their lines coincide.", "ops",
          [target(rate("meshsim_node_windows_total", "instance"), "{{instance}}")]),
    panel("Window duration", "Wall time of one window (processing its events and exchanging frames with "
          "every peer): median and 99th percentile.", "s",
          [target(quantile(0.5, "meshsim_node_window_duration_seconds"), "p50"),
           target(quantile(0.99, "meshsim_node_window_duration_seconds"), "p99")]),
    panel("Frames per transport", "Data frames sent between nodes per second, by transport: shm between "
          "nodes that share a host, tcp otherwise. One frame per peer per window.", "ops",
          [target(rate("meshsim_node_link_messages_sent_total", "transport"), "{{transport}}")]),
    panel("Bytes per transport", "Data-plane bytes sent between nodes per second, by transport.", "Bps",
          [target(rate("meshsim_node_link_sent_bytes_total", "transport"), "{{transport}}")]),
    panel("Events between nodes", "Simulation events carried between nodes per second, by transport.", "ops",
          [target(rate("meshsim_node_link_events_sent_total", "transport"), "{{transport}}")]),
    panel("Event queue depth", "Events pending in each node's queue at the end of its last window.", "short",
          [target("meshsim_node_event_queue_depth", "{{instance}}")]),
    panel("Ring occupancy", "Bytes in each shared-memory ring that its reader has not taken yet, right "
          "after a frame is written. Near the ring size means the reader lags.", "bytes",
          [target("meshsim_node_ring_occupancy_bytes", "{{instance}} to node {{peer}}")]),
    panel("Frame waits (shm)", "Frames from shared-memory peers per second, by how long each kept its "
          "node waiting: ready (already there), polled (under 2 us), yielded (polling between yields of the "
          "core, up to 1 ms), slept (on the futex). Many yielded or slept frames: nodes share CPUs, or one "
          "node has more work per window than the others.", "ops",
          [target(rate("meshsim_node_frame_waits_total", "how"), "{{how}}")]),
    panel("Virtual time", "Virtual time each node's current (or last) job has reached; it climbs to the "
          "scenario's end_time.", "none",
          [target("meshsim_node_virtual_time", "{{instance}}")]),
    panel("Mailbox traffic", "Mailbox posts per second and the deliveries they fan out to (one per "
          "subscriber).", "ops",
          [target(rate("meshsim_node_mailbox_posts_total"), "posts"),
           target(rate("meshsim_node_mailbox_deliveries_total"), "deliveries"),
           target(rate("meshsim_node_mailbox_remote_events_total"), "sent to other nodes")]),
]


def dashboard(uid, title, description, panels):
    out = []
    for i, p in enumerate(panels):
        out.append({
            "id": i + 1,
            "type": p["type"],
            "title": p["title"],
            "description": p["description"],
            "datasource": DATASOURCE,
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": p["unit"]}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [dict(t, datasource=DATASOURCE, refId=chr(ord("A") + j)) for j, t in enumerate(p["targets"])],
        })
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["meshsim"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "timezone": "browser",
        "panels": out,
        "templating": {"list": []},
        "annotations": {"list": []},
    }


def main():
    here = pathlib.Path(__file__).parent
    for name, uid, title, description, panels in [
        ("cluster.json", "meshsim-cluster", "meshsim / Cluster",
         "Nodes, jobs, the control plane (RPC) and durability (checkpoints, recoveries, state) of a meshsim "
         "cluster.", CLUSTER),
        ("simulation.json", "meshsim-simulation", "meshsim / Simulation",
         "What the nodes simulate: event and window rates, the data plane per transport, queues, rings, "
         "virtual time and mailboxes.", SIMULATION),
    ]:
        (here / name).write_text(json.dumps(dashboard(uid, title, description, panels), indent=2) + "\n")


if __name__ == "__main__":
    main()
