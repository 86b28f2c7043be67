//! `portunus-bench compare`: the same VideoRoom or Streaming scenario against portunus and
//! Janus 1.1.2, alternating, over a list of receiver counts (subscribers or viewers).
//! Servers run in one network namespace and the load tool (this binary, re-run as
//! `videoroom --json` or `streaming --json`) in another, joined by a veth pair. Writes the
//! configurations, every run's JSON, a table of ratios and an SVG plot.

pub mod netns;
pub mod plot;
pub mod servers;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize as _;
use serde_json::Value;

use super::receivers::Costs;
use netns::NetnsPair;
use servers::{Server, WS_PORT};

/// Which scenario to compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// P publishers × N subscribers in a VideoRoom.
    #[default]
    Videoroom,
    /// One RTP mountpoint fed by the tool × N viewers.
    Streaming,
}

impl Scenario {
    /// The subcommand that runs it.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Videoroom => "videoroom",
            Scenario::Streaming => "streaming",
        }
    }

    /// What its receivers are called (and where the report counts those up).
    fn receivers(self) -> (&'static str, &'static str) {
        match self {
            Scenario::Videoroom => ("subscribers", "/totals/subscribers_up"),
            Scenario::Streaming => ("viewers", "/totals/viewers_up"),
        }
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "videoroom" => Ok(Scenario::Videoroom),
            "streaming" => Ok(Scenario::Streaming),
            other => Err(format!("scenario {other:?}: videoroom or streaming")),
        }
    }
}

/// How to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub portunus: PathBuf,
    pub janus: PathBuf,
    pub scenario: Scenario,
    /// Receiver counts (subscribers or viewers) to run, in order.
    pub subscribers: Vec<u32>,
    pub publishers: u32,
    pub duration_s: u64,
    pub simulcast: bool,
    /// Where configurations, logs, JSON, the table and the plot go.
    pub out: PathBuf,
    /// This binary (re-run inside the client namespace).
    pub bench: PathBuf,
    /// Extra arguments for every scenario run (e.g. `--video-kbps 1500`).
    pub extra: Vec<String>,
}

/// One scenario run against one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub server: Server,
    pub scenario: Scenario,
    /// Receivers asked for (subscribers or viewers).
    pub subscribers: u32,
    pub ok: bool,
    pub error: Option<String>,
    pub forwarded_packets: u64,
    pub forwarded_per_cpu_s: Option<f64>,
    pub cpu_us_per_forwarded: Option<f64>,
    pub loss_pct: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub kib_per_pc: Option<f64>,
    pub client_cpu_pct: Option<f64>,
}

impl Row {
    /// Nothing measured yet.
    fn new(server: Server, scenario: Scenario, subscribers: u32) -> Self {
        Row {
            server,
            scenario,
            subscribers,
            ok: false,
            error: None,
            forwarded_packets: 0,
            forwarded_per_cpu_s: None,
            cpu_us_per_forwarded: None,
            loss_pct: None,
            latency_p50_ms: None,
            latency_p99_ms: None,
            kib_per_pc: None,
            client_cpu_pct: None,
        }
    }
}

/// Runs everything; returns the rows (also written to `out/results.json`).
pub fn run(opts: &CompareOptions) -> Result<Vec<Row>, String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ns = NetnsPair::create()?;
    let (portunus_cfg, janus_cfg) = servers::write_configs(
        &opts.out,
        ns.server_addr,
        &ns.server_if,
        cores,
        opts.scenario,
    )?;
    eprintln!(
        "configurations in {} (portunus.toml, janus/); servers in netns {} ({}), tool in {} ({})",
        opts.out.display(),
        ns.server_ns,
        ns.server_addr,
        ns.client_ns,
        ns.client_addr
    );
    let mut rows = Vec::new();
    for (i, n) in opts.subscribers.iter().enumerate() {
        // Alternate which server goes first, so drift on the machine hits both alike.
        let order = if i % 2 == 0 {
            [Server::Portunus, Server::Janus]
        } else {
            [Server::Janus, Server::Portunus]
        };
        for server in order {
            let row = run_one(opts, &ns, server, *n, &portunus_cfg, &janus_cfg);
            eprintln!(
                "{:>8} N={:<4} {}",
                server.name(),
                n,
                match &row.error {
                    Some(e) => format!("failed: {e}"),
                    None => format!(
                        "{} forwarded, {} pkt/CPU-s, loss {:.2}%",
                        row.forwarded_packets,
                        row.forwarded_per_cpu_s
                            .map_or("-".into(), |v| format!("{v:.0}")),
                        row.loss_pct.unwrap_or(0.0)
                    ),
                }
            );
            rows.push(row);
        }
    }
    let json = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
    write(&opts.out.join("results.json"), &json)?;
    write(&opts.out.join("comparison.md"), &table(&rows))?;
    let title = plot_title(opts);
    write(&opts.out.join("comparison.svg"), &plot_rows(&rows, &title))?;
    Ok(rows)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn run_one(
    opts: &CompareOptions,
    ns: &NetnsPair,
    server: Server,
    n: u32,
    portunus_cfg: &Path,
    janus_cfg: &Path,
) -> Row {
    let mut row = Row::new(server, opts.scenario, n);
    let (program, config) = match server {
        Server::Portunus => (&opts.portunus, portunus_cfg),
        Server::Janus => (&opts.janus, janus_cfg),
    };
    let log = opts.out.join(format!("{}-n{n}.log", server.name()));
    let running = match servers::start(server, ns, program, config, &log) {
        Ok(r) => r,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let result = wait_ready(ns, Duration::from_secs(60)).and_then(|()| {
        let json_path = opts.out.join(format!("{}-n{n}.json", server.name()));
        let mut cmd = NetnsPair::command(&ns.client_ns, &opts.bench.display().to_string());
        cmd.arg(opts.scenario.name())
            .arg("--server")
            .arg(format!("ws://{}:{WS_PORT}", ns.server_addr))
            .arg("--bind")
            .arg(ns.client_addr.to_string())
            .arg("--pid")
            .arg(running.pid().to_string())
            .args(["-n", &n.to_string()])
            .args(["--duration", &opts.duration_s.to_string(), "--json"]);
        if opts.scenario == Scenario::Videoroom {
            cmd.args(["-p", &opts.publishers.to_string()])
                .args(opts.simulcast.then_some("--simulcast"));
        }
        let out = cmd
            .args(&opts.extra)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("run {}: {e}", opts.bench.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let _ = write(&json_path, &text);
        if !out.status.success() && text.trim().is_empty() {
            return Err(format!(
                "{} run failed ({})",
                opts.scenario.name(),
                out.status
            ));
        }
        serde_json::from_str::<Value>(&text).map_err(|e| format!("report JSON: {e}"))
    });
    running.stop();
    match result {
        Ok(v) => fill(&mut row, &v),
        Err(e) => row.error = Some(e),
    }
    row
}

fn fill(row: &mut Row, v: &Value) {
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64);
    row.forwarded_packets = v
        .pointer("/totals/forwarded_packets")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // Both reports flatten the same `Costs` into their top level.
    let costs = Costs::deserialize(v).ok();
    row.forwarded_per_cpu_s = costs.and_then(|c| c.forwarded_per_server_cpu_s);
    row.cpu_us_per_forwarded = costs.and_then(|c| c.server_cpu_us_per_forwarded_packet);
    row.loss_pct = f("/totals/loss_pct");
    row.latency_p50_ms = f("/totals/latency_p50_ms");
    row.latency_p99_ms = f("/totals/latency_p99_ms");
    row.kib_per_pc = costs.and_then(|c| c.server_kib_per_peer_connection);
    row.client_cpu_pct = costs
        .map(|c| c.client_window)
        .filter(|u| u.wall_s > 0.0)
        .map(|u| u.cpu_percent());
    let (what, pointer) = row.scenario.receivers();
    let up = v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    row.ok = up == u64::from(row.subscribers) && row.forwarded_packets > 0;
    if !row.ok {
        row.error = Some(format!("{up} of {} {what} up", row.subscribers));
    }
}

/// Waits until the server's WebSocket port accepts a TCP connection from the client
/// namespace (a thread joins that namespace for the probe).
fn wait_ready(ns: &NetnsPair, timeout: Duration) -> Result<(), String> {
    let path = format!("/run/netns/{}", ns.client_ns);
    let addr = SocketAddr::from((ns.server_addr, WS_PORT));
    std::thread::spawn(move || -> Result<(), String> {
        let f = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        use std::os::fd::AsRawFd as _;
        // SAFETY: setns on a valid namespace fd; affects only this thread.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "nothing listening on {addr} after {} s",
            timeout.as_secs()
        ))
    })
    .join()
    .map_err(|_| "readiness probe panicked".to_string())?
}

/// The largest N whose run had every receiver up and loss under 0.5%.
fn max_n(rows: &[Row], server: Server) -> Option<u32> {
    rows.iter()
        .filter(|r| r.server == server && r.ok && r.loss_pct.is_some_and(|l| l < 0.5))
        .map(|r| r.subscribers)
        .max()
}

/// Per-N results and the ratios portunus / Janus, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "| N | server | forwarded pkt | pkt per CPU-s | CPU µs/pkt | loss % | latency p50 ms | p99 ms | KiB/PC | tool CPU % |"
    );
    let _ = writeln!(o, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let opt = |v: Option<f64>, p: usize| v.map_or("-".into(), |x| format!("{x:.p$}"));
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.subscribers,
            r.server.name(),
            if r.error.is_some() {
                format!(
                    "{} ({})",
                    r.forwarded_packets,
                    r.error.as_deref().unwrap_or("")
                )
            } else {
                r.forwarded_packets.to_string()
            },
            opt(r.forwarded_per_cpu_s, 0),
            opt(r.cpu_us_per_forwarded, 2),
            opt(r.loss_pct, 2),
            opt(r.latency_p50_ms, 2),
            opt(r.latency_p99_ms, 2),
            opt(r.kib_per_pc, 0),
            opt(r.client_cpu_pct, 0),
        );
    }
    // Ratios over the N both servers completed.
    let pair = |n: u32, f: &dyn Fn(&Row) -> Option<f64>| {
        let get = |s| {
            rows.iter()
                .find(|r| r.server == s && r.subscribers == n && r.ok)
                .and_then(f)
        };
        get(Server::Portunus)
            .zip(get(Server::Janus))
            .filter(|(_, j)| *j > 0.0)
            .map(|(p, j)| p / j)
    };
    let mean = |f: &dyn Fn(&Row) -> Option<f64>| {
        let mut ns: Vec<u32> = rows.iter().map(|r| r.subscribers).collect();
        ns.dedup();
        let v: Vec<f64> = ns.iter().filter_map(|n| pair(*n, f)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let _ = writeln!(
        o,
        "\n| ratio portunus / Janus (mean over N both completed) | value |\n|---|---:|"
    );
    let _ = writeln!(
        o,
        "| CPU-seconds per forwarded packet | {} |",
        opt(mean(&|r| r.cpu_us_per_forwarded), 3)
    );
    let _ = writeln!(
        o,
        "| latency p50 | {} |",
        opt(mean(&|r| r.latency_p50_ms), 3)
    );
    let _ = writeln!(
        o,
        "| latency p99 | {} |",
        opt(mean(&|r| r.latency_p99_ms), 3)
    );
    let _ = writeln!(
        o,
        "| memory per PeerConnection | {} |",
        opt(mean(&|r| r.kib_per_pc), 3)
    );
    let (p, j) = (max_n(rows, Server::Portunus), max_n(rows, Server::Janus));
    let _ = writeln!(
        o,
        "| largest N with loss < 0.5% | {} ({} / {}) |",
        p.zip(j).map_or("-".into(), |(p, j)| format!(
            "{:.2}",
            f64::from(p) / f64::from(j)
        )),
        p.map_or("-".into(), |v| v.to_string()),
        j.map_or("-".into(), |v| v.to_string())
    );
    o
}

/// The plot's title: scenario, sender count and codecs (from the extra arguments).
fn plot_title(opts: &CompareOptions) -> String {
    let named = opts.extra.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--video-codec=").or_else(|| {
            (a == "--video-codec").then(|| opts.extra.get(i + 1).map(String::as_str))?
        })
    });
    let codec = if named == Some("h264") {
        "H.264"
    } else {
        "VP8"
    };
    match opts.scenario {
        Scenario::Videoroom => format!(
            "VideoRoom fan-out: portunus vs Janus 1.1.2 ({} publisher{}, {codec} + Opus{})",
            opts.publishers,
            if opts.publishers == 1 { "" } else { "s" },
            if opts.simulcast { ", simulcast" } else { "" }
        ),
        Scenario::Streaming => {
            format!("Streaming fan-out: portunus vs Janus 1.1.2 (1 RTP mountpoint, {codec} + Opus)")
        }
    }
}

fn plot_rows(rows: &[Row], title: &str) -> String {
    let series = |f: &dyn Fn(&Row) -> Option<f64>| -> Vec<plot::Series<'static>> {
        [(Server::Portunus, "#c0392b"), (Server::Janus, "#2c3e50")]
            .into_iter()
            .map(|(s, color)| plot::Series {
                name: s.name(),
                color,
                points: rows
                    .iter()
                    .filter(|r| r.server == s && r.error.is_none())
                    .filter_map(|r| f(r).map(|v| (f64::from(r.subscribers), v)))
                    .collect(),
            })
            .collect()
    };
    plot::svg(
        title,
        (
            "server CPU µs per forwarded packet",
            &series(&|r| r.cpu_us_per_forwarded),
        ),
        ("loss %", &series(&|r| r.loss_pct)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row::new(Server::Portunus, Scenario::Streaming, 2)
    }

    #[test]
    fn a_row_is_filled_from_the_report_costs_and_totals() {
        let usage = serde_json::json!({
            "wall_s": 10.0, "cpu_s": 2.5, "rss_start_kib": 1000,
            "rss_end_kib": 1200, "peak_rss_kib": 1300
        });
        let report = serde_json::json!({
            "scenario": "streaming",
            "forwarded_per_server_cpu_s": 4000.0,
            "server_cpu_us_per_forwarded_packet": 250.0,
            "server_kib_per_peer_connection": 100.0,
            "client_cpu_us_per_received_packet": 250.0,
            "server_window": usage, "server_setup": usage, "server_total": usage,
            "client_window": usage, "client_total": usage,
            "totals": {"viewers_up": 2, "forwarded_packets": 10000, "loss_pct": 0.5,
                       "latency_p50_ms": 1.0, "latency_p99_ms": 3.0},
        });
        let mut r = row();
        fill(&mut r, &report);
        assert!(r.ok && r.error.is_none(), "{r:?}");
        assert_eq!(r.forwarded_packets, 10000);
        assert_eq!(r.forwarded_per_cpu_s, Some(4000.0));
        assert_eq!(r.cpu_us_per_forwarded, Some(250.0));
        assert_eq!(r.kib_per_pc, Some(100.0));
        assert_eq!(r.client_cpu_pct, Some(25.0));
        assert_eq!((r.loss_pct, r.latency_p99_ms), (Some(0.5), Some(3.0)));

        // A report without the costs (a failed run's partial output) leaves them empty.
        let mut r = row();
        fill(&mut r, &serde_json::json!({"totals": {"viewers_up": 1}}));
        assert_eq!((r.forwarded_per_cpu_s, r.client_cpu_pct), (None, None));
        assert_eq!(r.error.as_deref(), Some("1 of 2 viewers up"));
    }
}
