//! The shared UDP port: local addresses, and one SO_REUSEPORT socket per (shard, address)
//! all bound to the same port, so each shard reads and writes without locks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};
use tracing::{debug, warn};

use crate::error::MediaError;

/// Receive buffer we ask the kernel for (it may grant less): bursts of video packets.
const RECV_BUFFER: usize = 4 << 20;
/// With an ephemeral port, the first address picks it and the others may find it taken.
const EPHEMERAL_TRIES: usize = 16;

/// The addresses to gather host candidates on: the configured ones, or every IPv4
/// interface address (loopback included, so local browsers and tests connect).
pub fn interface_ips(configured: &[IpAddr]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if configured.is_empty() {
        match if_addrs::get_if_addrs() {
            Ok(list) => list
                .into_iter()
                .map(|i| i.ip())
                .filter(|ip| ip.is_ipv4())
                .collect(),
            Err(e) => {
                warn!("cannot list network interfaces ({e}); using 127.0.0.1 only");
                Vec::new()
            }
        }
    } else {
        configured.to_vec()
    };
    if configured.is_empty() && !ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)) {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let mut seen = Vec::new();
    ips.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    ips
}

fn bind_one(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    if let Err(e) = s.set_recv_buffer_size(RECV_BUFFER) {
        debug!("SO_RCVBUF on {addr}: {e}");
    }
    if let Err(e) = s.set_send_buffer_size(RECV_BUFFER) {
        debug!("SO_SNDBUF on {addr}: {e}");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Sockets of one shard: one per local address, all on the same port.
pub type ShardSockets = Vec<(SocketAddr, UdpSocket)>;

fn bind_port(
    ips: &[IpAddr],
    port: u16,
    shards: usize,
) -> std::io::Result<(u16, Vec<ShardSockets>)> {
    let mut port = port;
    let mut out: Vec<ShardSockets> = (0..shards).map(|_| Vec::new()).collect();
    for shard in out.iter_mut() {
        for ip in ips {
            let s = bind_one(SocketAddr::new(*ip, port))?;
            let local = s.local_addr()?;
            port = local.port();
            shard.push((local, s));
        }
    }
    Ok((port, out))
}

/// Binds `shards` sockets on every address, all on `port` (0 = one free port for all).
pub fn bind_all(
    ips: &[IpAddr],
    port: u16,
    shards: usize,
) -> Result<(u16, Vec<ShardSockets>), MediaError> {
    if ips.is_empty() {
        return Err(MediaError::Io("no local address to bind".into()));
    }
    let tries = if port == 0 { EPHEMERAL_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        match bind_port(ips, port, shards) {
            Ok(r) => return Ok(r),
            Err(e) => {
                debug!("binding UDP port {port} on {ips:?}: {e}");
                last = Some(e);
            }
        }
    }
    Err(MediaError::Io(format!(
        "cannot bind UDP port {port} on {ips:?}: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_interfaces_include_loopback_once() {
        let ips = interface_ips(&[]);
        assert_eq!(
            ips.iter()
                .filter(|i| **i == IpAddr::V4(Ipv4Addr::LOCALHOST))
                .count(),
            1
        );
        assert!(ips.iter().all(|i| i.is_ipv4()));
    }

    #[test]
    fn configured_interfaces_are_used_as_given() {
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(interface_ips(&[ip, ip]), vec![ip]);
    }

    #[test]
    fn shards_share_one_ephemeral_port() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (port, shards) = bind_all(&[lo], 0, 3).unwrap();
        assert_ne!(port, 0);
        assert_eq!(shards.len(), 3);
        for s in &shards {
            assert_eq!(s[0].0, SocketAddr::new(lo, port));
        }
    }

    #[test]
    fn no_address_is_an_error() {
        assert!(matches!(bind_all(&[], 0, 1), Err(MediaError::Io(_))));
    }
}
