"""Jobs as plain data: the same fields as `meshsim status --json`
(docs/cli.md), built from the JobInfo message, and pandas data frames of a
result's series, nodes and links when pandas is installed."""
from meshsim_client._proto import meshsim_pb2

_PARTITIONS = {meshsim_pb2.PARTITION_BLOCK: "block", meshsim_pb2.PARTITION_ROUND_ROBIN: "round_robin"}
_TRANSPORTS = {meshsim_pb2.TRANSPORT_AUTO: "auto", meshsim_pb2.TRANSPORT_SHM: "shm",
               meshsim_pb2.TRANSPORT_TCP: "tcp"}
_SYNCS = {meshsim_pb2.SYNC_OPTIMISTIC: "optimistic", meshsim_pb2.SYNC_AUTO: "auto"}
TERMINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED")


def state_name(state):
    return meshsim_pb2.JobState.Name(state)


def _scenario(s):
    return {
        "name": s.name, "model": s.model, "seed": s.seed, "end_time": s.end_time, "lookahead": s.lookahead,
        "nodes": s.nodes, "partition": _PARTITIONS.get(s.partition, "block"),
        "transport": _TRANSPORTS.get(s.transport, "auto"), "sync": _sync_name(s.sync),
        "optimism": {"time_window": s.optimism.time_window, "max_saved_events": s.optimism.max_saved_events,
                     "check_every": s.optimism.check_every},
        "params": dict(sorted(s.params.items())),
        "checkpoint_every_seconds": s.checkpoint_every_seconds, "max_restarts": s.max_restarts,
    }


def _sync_name(sync):
    return _SYNCS.get(sync, "conservative")


def _optimistic(o):
    return {"events_run": o.events_run, "rolled_back": o.rolled_back, "rollbacks": o.rollbacks,
            "anti_messages_sent": o.anti_messages_sent, "anti_messages_received": o.anti_messages_received,
            "gvt_rounds": o.gvt_rounds, "peak_saved_bytes": o.peak_saved_bytes,
            "efficiency": 1.0 if o.events_run == 0 else (o.events_run - o.rolled_back) / o.events_run}


def _memory(m):
    return {"peak_rss_bytes": m.peak_rss_bytes, "kernel_bytes": m.kernel_bytes,
            "lp_state_bytes": m.lp_state_bytes, "lp_record_bytes": m.lp_record_bytes,
            "pending_event_bytes": m.pending_event_bytes, "saved_state_bytes": m.saved_state_bytes}


def _mailboxes(m):
    return {"posts": m.posts, "deliveries": m.deliveries, "remote_events": m.remote_events}


def _result_fields(r, out):
    out.update({
        "committed_events": r.committed_events, "pending_events": r.pending_events, "end_time": r.end_time,
        "windows": r.windows, "wall_seconds": r.wall_seconds, "event_rate": r.event_rate,
        "digest": f"{r.digest:016x}",
        "nodes": [{"id": n.node_id, "rank": n.rank, "lps": n.lps, "events": n.committed_events,
                   "pending_events": n.pending_events, "loop_seconds": n.loop_seconds,
                   "frames_dropped": n.frames_dropped, "mailboxes": _mailboxes(n.mailboxes)} for n in r.nodes],
        "links": [{"from": l.from_node, "to": l.to_node, "transport": _TRANSPORTS.get(l.transport, "tcp"),
                   "messages": l.messages, "bytes": l.bytes, "events": l.events}
                  for n in r.nodes for l in n.links],
        "summary": dict(sorted(r.summary.items())),
        "mailboxes": {"count": r.mailbox_count, **_mailboxes(r.mailboxes)},
    })
    for node, n in zip(out["nodes"], r.nodes):
        if n.HasField("optimistic"):
            node["optimistic"] = _optimistic(n.optimistic)
        if n.HasField("memory"):
            node["memory"] = _memory(n.memory)
    if r.HasField("optimistic"):
        out["optimistic"] = _optimistic(r.optimistic)
    if r.HasField("memory"):
        out["memory"] = _memory(r.memory)
    if r.series:
        series = {"interval": r.series_interval,
                  "time": [k * r.series_interval for k in range(len(r.series[0].values))]}
        for one in r.series:
            series[one.name] = list(one.values)
        out["series"] = series


def job_to_dict(job):
    """A JobInfo message as the CLI's --json object."""
    out = {
        "job_id": job.job_id,
        "state": state_name(job.state),
        "reason": job.reason,
        "scenario": _scenario(job.scenario),
        "virtual_time": job.scenario.end_time if job.state == meshsim_pb2.COMPLETED else job.virtual_time,
        "attempt": max(job.attempt, 1),
        "assigned_nodes": list(job.assigned_nodes),
        "checkpoints_written": job.checkpoints_written,
        "sync": _sync_name(job.sync if job.sync != meshsim_pb2.SYNC_UNSPECIFIED else job.scenario.sync),
        "restarts": [{"attempt": r.attempt, "reason": r.reason, "at_unix": r.at_unix, "from_window": r.from_window,
                      "replayed_windows": r.replayed_windows, "nodes": r.nodes} for r in job.restarts],
        "replayed_windows": sum(r.replayed_windows for r in job.restarts),
        "history": [{"state": state_name(c.state), "reason": c.reason, "at_unix": c.at_unix} for c in job.history],
    }
    if job.checkpoints:
        c = job.checkpoints[-1]
        out["checkpoint"] = {"window": c.window, "attempt": c.attempt, "parts": c.parts,
                             "virtual_time": c.virtual_time, "bytes": c.bytes, "at_unix": c.at_unix}
    if job.state == meshsim_pb2.COMPLETED:
        _result_fields(job.result, out)
    return out


class JobStatus(dict):
    """One job's state and, once COMPLETED, its result: a dict with the
    fields of `meshsim status --json`, readable as attributes too
    (`status.digest`), and as data frames."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def done(self):
        return self["state"] in TERMINAL_STATES

    def _frame(self, rows, columns):
        import pandas  # optional: only the frames need it

        return pandas.DataFrame(rows, columns=columns)

    def series_frame(self):
        """The model's time series: a column `time`, then one per series."""
        series = self.get("series")
        if not series:
            return self._frame([], ["time"])
        names = ["time"] + [k for k in series if k not in ("interval", "time")]
        return self._frame(list(zip(*(series[n] for n in names))), names)

    def nodes_frame(self):
        """One row per node: id, rank, lps, events, pending_events, loop_seconds, frames_dropped."""
        columns = ["id", "rank", "lps", "events", "pending_events", "loop_seconds", "frames_dropped"]
        return self._frame([{c: n[c] for c in columns} for n in self.get("nodes", [])], columns)

    def plot(self, path=None):
        """Draws the job with matplotlib: the model's series over virtual time,
        events per node, bytes per link by transport. Saves to `path` (.png,
        .svg, ...) when given; returns the figure. ImportError when
        matplotlib is not installed (Debian: python3-matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg") if path else None
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("plot() needs matplotlib (Debian: python3-matplotlib)") from error
        series = self.get("series")
        rows = 3 if series else 2
        figure, axes = plt.subplots(rows, 1, figsize=(10, 3.6 * rows), constrained_layout=True)
        title = f"{self['scenario']['name']} (job {self['job_id']})"
        if series:
            ax = axes[0]
            for name in (k for k in series if k not in ("interval", "time")):
                ax.plot(series["time"], series[name], label=name, linewidth=2)
            ax.set(title=f"{title}: {self['scenario']['model']} series", xlabel="virtual time", ylabel="count")
            ax.legend(loc="center right")
            ax.grid(alpha=0.3)
        nodes, links = axes[-2], axes[-1]
        node_rows = self.get("nodes", [])
        nodes.bar([f"node {n['id']} (rank {n['rank']})" for n in node_rows], [n["events"] for n in node_rows])
        nodes.set(title=f"{title}: events committed per node", ylabel="events")
        link_rows = self.get("links", [])
        colors = {"shm": "tab:purple", "tcp": "tab:green"}
        links.bar([f"{l['from']} -> {l['to']}" for l in link_rows], [l["bytes"] for l in link_rows],
                  color=[colors.get(l["transport"], "tab:gray") for l in link_rows])
        links.set(title=f"{title}: bytes per link (purple shm, green tcp)", ylabel="bytes")
        if path:
            figure.savefig(path)
            plt.close(figure)
        return figure

    def links_frame(self):
        """One row per directed link: from, to, transport, messages, bytes, events."""
        columns = ["from", "to", "transport", "messages", "bytes", "events"]
        return self._frame(self.get("links", []), columns)
