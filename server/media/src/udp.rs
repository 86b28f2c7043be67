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

// ---- batched sends ------------------------------------------------------------------

/// Messages per `sendmmsg` call.
pub const MMSG_MAX: usize = 32;
/// UDP GSO limits: segments per send (the kernel's UDP_MAX_SEGMENTS) and bytes per send.
pub const GSO_MAX_SEGMENTS: usize = 64;
pub const GSO_MAX_BYTES: usize = 64_000;

/// One message: a datagram, or with `segment` a train of datagrams of that size (the last
/// may be shorter) that the kernel splits (UDP GSO).
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub dest: SocketAddr,
    pub data: &'a [u8],
    pub segment: Option<u16>,
}

impl Outgoing<'_> {
    pub const EMPTY: Outgoing<'static> = Outgoing {
        dest: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        data: &[],
        segment: None,
    };

    /// Datagrams this message puts on the wire.
    pub fn datagrams(&self) -> usize {
        match self.segment {
            Some(seg) if seg > 0 => self.data.len().div_ceil(usize::from(seg)),
            _ => 1,
        }
    }
}

/// True when the socket accepts UDP GSO sends (Linux 4.18+); asked once per socket.
#[cfg(target_os = "linux")]
pub fn gso_supported(fd: std::os::fd::RawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid fd, and `v`/`len` describe a c_int-sized buffer.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_UDP,
            linux::UDP_SEGMENT,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0
}

#[cfg(not(target_os = "linux"))]
pub fn gso_supported(_fd: std::os::fd::RawFd) -> bool {
    false
}

/// Sends `msgs` in order with as few system calls as the platform has (`sendmmsg` on
/// Linux, one `sendto` each elsewhere). Returns how many messages the kernel took; an
/// error only when the first one fails (the caller retries the rest to learn why).
#[cfg(target_os = "linux")]
pub fn send_many(fd: std::os::fd::RawFd, msgs: &[Outgoing]) -> std::io::Result<usize> {
    linux::send_many(fd, msgs)
}

#[cfg(all(unix, not(target_os = "linux")))]
pub fn send_many(fd: std::os::fd::RawFd, msgs: &[Outgoing]) -> std::io::Result<usize> {
    // SAFETY: the caller owns the socket for the duration of the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let s = socket2::SockRef::from(&fd);
    for (i, m) in msgs.iter().enumerate() {
        if let Err(e) = s.send_to(m.data, &m.dest.into()) {
            return if i == 0 { Err(e) } else { Ok(i) };
        }
    }
    Ok(msgs.len())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::os::fd::RawFd;

    use socket2::SockAddr;

    use super::{MMSG_MAX, Outgoing};

    /// `UDP_SEGMENT` from linux/udp.h (not in the libc crate for glibc targets).
    pub const UDP_SEGMENT: libc::c_int = 103;
    /// CMSG_SPACE(sizeof(u16)) on 64-bit Linux, in u64 words for alignment.
    const CMSG_WORDS: usize = 3;

    pub fn send_many(fd: RawFd, msgs: &[Outgoing]) -> io::Result<usize> {
        let n = msgs.len().min(MMSG_MAX);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: plain C structs for which all-zero is a valid value.
        let mut hdrs: [libc::mmsghdr; MMSG_MAX] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; MMSG_MAX] = unsafe { zeroed() };
        let mut addrs: [libc::sockaddr_storage; MMSG_MAX] = unsafe { zeroed() };
        let mut cmsgs = [[0u64; CMSG_WORDS]; MMSG_MAX];
        for (i, m) in msgs[..n].iter().enumerate() {
            let sa = SockAddr::from(m.dest);
            // SAFETY: `sa` holds `sa.len()` initialised bytes, which fit a sockaddr_storage.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    sa.as_ptr().cast::<u8>(),
                    (&mut addrs[i] as *mut libc::sockaddr_storage).cast::<u8>(),
                    sa.len() as usize,
                );
            }
            iovs[i] = libc::iovec {
                iov_base: m.data.as_ptr() as *mut libc::c_void,
                iov_len: m.data.len(),
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = sa.len();
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if let Some(seg) = m.segment {
                h.msg_control = cmsgs[i].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE is a pure size computation.
                h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
                // SAFETY: msg_control points at CMSG_WORDS * 8 >= CMSG_SPACE(2) aligned bytes.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
                }
            }
        }
        // SAFETY: `hdrs[..n]` point at buffers (addresses, iovecs, payloads, cmsgs) that
        // outlive the call.
        let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }
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

    use std::os::fd::AsRawFd;

    fn loopback_pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        (tx, rx)
    }

    fn recv_all(rx: &std::net::UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let (len, _) = rx.recv_from(&mut buf).unwrap();
                buf[..len].to_vec()
            })
            .collect()
    }

    #[test]
    fn send_many_delivers_in_order() {
        let (tx, rx) = loopback_pair();
        let dest = rx.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let msgs: Vec<Outgoing> = payloads
            .iter()
            .map(|p| Outgoing {
                dest,
                data: p,
                segment: None,
            })
            .collect();
        let mut sent = 0;
        while sent < msgs.len() {
            sent += send_many(tx.as_raw_fd(), &msgs[sent..]).unwrap();
        }
        assert_eq!(recv_all(&rx, 40), payloads);
        assert_eq!(send_many(tx.as_raw_fd(), &[]).unwrap(), 0);
    }

    #[test]
    fn gso_train_arrives_as_separate_datagrams() {
        let (tx, rx) = loopback_pair();
        if !gso_supported(tx.as_raw_fd()) {
            return; // not Linux 4.18+: the batcher never builds GSO messages there
        }
        let dest = rx.local_addr().unwrap();
        let mut data = Vec::new();
        for i in 0..5u8 {
            data.extend(std::iter::repeat_n(i, 1200));
        }
        data.extend([9u8; 300]); // the last segment may be shorter
        let m = Outgoing {
            dest,
            data: &data,
            segment: Some(1200),
        };
        assert_eq!(m.datagrams(), 6);
        assert_eq!(send_many(tx.as_raw_fd(), &[m]).unwrap(), 1);
        let got = recv_all(&rx, 6);
        assert_eq!(got[0], vec![0u8; 1200]);
        assert_eq!(got[4], vec![4u8; 1200]);
        assert_eq!(got[5], vec![9u8; 300]);
    }

    #[test]
    fn an_unsendable_first_message_is_an_error() {
        let (tx, _rx) = loopback_pair();
        // An IPv6 destination on an IPv4 socket.
        let m = Outgoing {
            dest: "[::1]:9".parse().unwrap(),
            data: &[1, 2, 3],
            segment: None,
        };
        assert!(send_many(tx.as_raw_fd(), &[m]).is_err());
    }

    #[test]
    fn no_address_is_an_error() {
        assert!(matches!(bind_all(&[], 0, 1), Err(MediaError::Io(_))));
    }
}
