//! Two network namespaces joined by a veth pair: servers in one, the load tool in the
//! other, so Janus (which never gathers loopback candidates) has a real interface and both
//! sides reach only each other. Removed on drop.

use std::net::Ipv4Addr;
use std::process::Command;

/// The namespaces and their addresses.
#[derive(Debug)]
pub struct NetnsPair {
    pub server_ns: String,
    pub client_ns: String,
    /// The veth end in the server namespace (Janus's `ice_enforce_list`).
    pub server_if: String,
    pub server_addr: Ipv4Addr,
    pub client_addr: Ipv4Addr,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e} (iproute2 installed? root?)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetnsPair {
    /// Creates `pb<pid>s`/`pb<pid>c` with 10.199.<pid % 250>.1/.2 on a veth pair.
    pub fn create() -> Result<Self, String> {
        let id = std::process::id();
        let subnet = (id % 250) as u8;
        let pair = NetnsPair {
            server_ns: format!("pb{id}s"),
            client_ns: format!("pb{id}c"),
            server_if: format!("pb{id}s0"),
            server_addr: Ipv4Addr::new(10, 199, subnet, 1),
            client_addr: Ipv4Addr::new(10, 199, subnet, 2),
        };
        let client_if = format!("pb{id}c0");
        ip(&["netns", "add", &pair.server_ns])?;
        // From here on, drop removes whatever was made.
        ip(&["netns", "add", &pair.client_ns])?;
        ip(&[
            "link",
            "add",
            &pair.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &client_if,
        ])?;
        ip(&["link", "set", &pair.server_if, "netns", &pair.server_ns])?;
        ip(&["link", "set", &client_if, "netns", &pair.client_ns])?;
        for (ns, dev, addr) in [
            (&pair.server_ns, &pair.server_if, pair.server_addr),
            (&pair.client_ns, &client_if, pair.client_addr),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(pair)
    }

    /// `program` to run inside namespace `ns` (`ip netns exec` execs it: the child's pid is
    /// the program's).
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the pair.
        for ns in [&self.server_ns, &self.client_ns] {
            if let Err(e) = ip(&["netns", "del", ns]) {
                tracing::warn!("{e}");
            }
        }
    }
}
