//! The two servers with equivalent configuration, written by the tool into a folder that is
//! printed beside the results: API over WebSocket on port 8188, media on the veth address
//! only, one media thread per core, no recording, warnings-only logging, the stock
//! VideoRoom or Streaming plugin (no configured rooms or mountpoints: the tool creates them;
//! Janus's Streaming RTP ports from a range apart from its ICE ports). SRTP: neither server can be told a profile; both offer their defaults and the
//! negotiated one is reported (portunus: AEAD_AES_256_GCM, see docs/PERFORMANCE.md).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Scenario;
use super::netns::NetnsPair;

pub const WS_PORT: u16 = 8188;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    Portunus,
    Janus,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Portunus => "portunus",
            Server::Janus => "janus",
        }
    }
}

/// UDP ports Janus's Streaming plugin takes mountpoint RTP ports from (`port: 0`), apart
/// from its ICE range (portunus takes any free port).
pub const STREAMING_RTP_PORTS: &str = "40001-50000";

/// portunus's stock plugins: all but the one the scenario uses are disabled.
const PORTUNUS_PLUGINS: [&str; 3] = [
    "janus.plugin.echotest",
    "janus.plugin.videoroom",
    "janus.plugin.streaming",
];

/// Janus's plugins: all but the one the scenario uses are disabled.
const JANUS_PLUGINS: [&str; 12] = [
    "streaming",
    "audiobridge",
    "duktape",
    "lua",
    "nosip",
    "recordplay",
    "sip",
    "textroom",
    "videocall",
    "voicemail",
    "echotest",
    "videoroom",
];

/// Writes both configurations under `dir`; returns their main files.
pub fn write_configs(
    dir: &Path,
    addr: Ipv4Addr,
    interface: &str,
    cores: usize,
    scenario: Scenario,
) -> Result<(PathBuf, PathBuf), String> {
    let janus_dir = dir.join("janus");
    std::fs::create_dir_all(&janus_dir).map_err(|e| format!("{}: {e}", janus_dir.display()))?;
    let write = |p: PathBuf, text: String| {
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let portunus = dir.join("portunus.toml");
    // As in Janus's configuration: only the scenario's plugin is loaded.
    let unused: Vec<String> = PORTUNUS_PLUGINS
        .iter()
        .filter(|p| !p.ends_with(scenario.name()))
        .map(|p| format!("\"{p}\""))
        .collect();
    let plugins = format!(
        "\n[plugins]\n# Only the scenario's plugin (Janus: plugins.disable).\ndisable = [{}]\n",
        unused.join(", ")
    );
    let streaming = match scenario {
        Scenario::Videoroom => String::new(),
        Scenario::Streaming => {
            "\n# The Streaming plugin: no configured mountpoints (the tool creates one; Janus:\n\
             # janus/janus.plugin.streaming.jcfg). `port: 0` takes any free UDP port (Janus: one\n\
             # from its rtp_port_range, set apart from its ICE ports; portunus's PeerConnections\n\
             # share one port).\n\
             [plugins.\"janus.plugin.streaming\"]\n"
                .to_string()
        }
    };
    write(
        portunus.clone(),
        format!(
            "# portunus-bench compare: equivalent of janus/janus.jcfg\n\
             [transports.http]\nenabled = false\n\n\
             [transports.websocket]\nenabled = true\nbind = \"0.0.0.0\"\nport = {WS_PORT}\n\n\
             [media]\n# One media thread per core (Janus: event_loops = {cores}).\nworkers = {cores}\n\
             interfaces = [\"{addr}\"]\n{plugins}{streaming}"
        ),
    )?;
    let keep = match scenario {
        Scenario::Videoroom => "videoroom",
        Scenario::Streaming => "streaming",
    };
    let disable: Vec<String> = JANUS_PLUGINS
        .iter()
        .filter(|p| **p != keep)
        .map(|p| format!("libjanus_{p}.so"))
        .collect();
    let disable = disable.join(",");
    let plugins = "/usr/lib/x86_64-linux-gnu/janus";
    write(
        janus_dir.join("janus.jcfg"),
        format!(
            "# portunus-bench compare: equivalent of ../portunus.toml\n\
             general: {{\n\
             \tconfigs_folder = \"{d}\"\n\
             \tplugins_folder = \"{plugins}/plugins\"\n\
             \ttransports_folder = \"{plugins}/transports\"\n\
             \tevents_folder = \"{plugins}/events\"\n\
             \tloggers_folder = \"{plugins}/loggers\"\n\
             \tdebug_level = 3\n\
             \t# One event loop per core, as portunus has one media thread per core.\n\
             \tevent_loops = {cores}\n\
             }}\n\
             media: {{\n\trtp_port_range = \"20000-40000\"\n}}\n\
             nat: {{\n\tice_enforce_list = \"{interface}\"\n}}\n\
             plugins: {{\n\tdisable = \"{disable}\"\n}}\n\
             transports: {{\n\tdisable = \"libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so\"\n}}\n\
             events: {{\n\tbroadcast = false\n}}\n",
            d = janus_dir.display()
        ),
    )?;
    match scenario {
        Scenario::Videoroom => write(
            janus_dir.join("janus.plugin.videoroom.jcfg"),
            "general: {\n}\n".into(),
        )?,
        // No sample mountpoints (Debian's file has several): the tool creates its own.
        Scenario::Streaming => write(
            janus_dir.join("janus.plugin.streaming.jcfg"),
            format!(
                "# Equivalent of [plugins.\"janus.plugin.streaming\"] in ../portunus.toml\n\
                 general: {{\n\trtp_port_range = \"{STREAMING_RTP_PORTS}\"\n}}\n"
            ),
        )?,
    }
    write(
        janus_dir.join("janus.transport.websockets.jcfg"),
        format!("general: {{\n\tws = true\n\tws_port = {WS_PORT}\n}}\n"),
    )?;
    Ok((portunus, janus_dir.join("janus.jcfg")))
}

/// A server running in the server namespace.
pub struct Running {
    pub server: Server,
    child: Child,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `server` in the server namespace, logging to `log`.
pub fn start(
    server: Server,
    ns: &NetnsPair,
    program: &Path,
    config: &Path,
    log: &Path,
) -> Result<Running, String> {
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = NetnsPair::command(&ns.server_ns, &program.display().to_string());
    match server {
        Server::Portunus => {
            cmd.arg("--config").arg(config).env("RUST_LOG", "warn");
        }
        Server::Janus => {
            let dir = config.parent().unwrap_or(Path::new("."));
            cmd.arg("-F").arg(dir).arg("-C").arg(config);
        }
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("start {}: {e}", program.display()))?;
    Ok(Running { server, child })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(scenario: Scenario) -> (String, String, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "portunus-bench-cfg-{}-{}",
            std::process::id(),
            scenario.name()
        ));
        let (p, j) =
            write_configs(&dir, Ipv4Addr::new(10, 1, 2, 3), "veth0", 2, scenario).expect("written");
        let read = |p: &Path| std::fs::read_to_string(p).expect("readable");
        (read(&p), read(&j), dir)
    }

    #[test]
    fn videoroom_configs_enable_only_the_videoroom() {
        let (p, j, dir) = configs(Scenario::Videoroom);
        assert!(
            p.contains("workers = 2") && p.contains("\"10.1.2.3\""),
            "{p}"
        );
        assert!(
            p.contains("disable = [\"janus.plugin.echotest\", \"janus.plugin.streaming\"]"),
            "{p}"
        );
        assert!(j.contains("event_loops = 2") && j.contains("ice_enforce_list = \"veth0\""));
        assert!(j.contains("libjanus_streaming.so") && !j.contains("libjanus_videoroom.so"));
        assert!(dir.join("janus/janus.plugin.videoroom.jcfg").is_file());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn streaming_configs_enable_only_the_streaming_plugin() {
        let (p, j, dir) = configs(Scenario::Streaming);
        assert!(p.contains("[plugins.\"janus.plugin.streaming\"]"), "{p}");
        assert!(
            p.contains("disable = [\"janus.plugin.echotest\", \"janus.plugin.videoroom\"]"),
            "{p}"
        );
        assert!(!j.contains("libjanus_streaming.so") && j.contains("libjanus_videoroom.so"));
        let s = std::fs::read_to_string(dir.join("janus/janus.plugin.streaming.jcfg"))
            .expect("streaming jcfg");
        assert!(
            s.contains(STREAMING_RTP_PORTS) && !s.contains("type ="),
            "{s}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
