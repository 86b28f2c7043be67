//! Batched sends: the datagrams one shard loop iteration produces are collected here and
//! leave with as few system calls as the platform has: `sendmmsg` (Linux), and UDP GSO
//! where several datagrams of one size go to one destination (one message for the whole
//! train). Datagrams are copied into a reused arena (no allocation per packet once warm);
//! a full socket buffer drops datagrams, never blocks the shard (UDP is lossy anyway).

use std::net::SocketAddr;
use std::os::fd::RawFd;

use tracing::debug;

use crate::udp::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS, MMSG_MAX, Outgoing, gso_supported, send_many};

/// Equal-size datagrams to one destination that make a GSO train.
pub const GSO_MIN_SEGMENTS: usize = 2;
/// Datagrams collected before a flush is forced (bounds memory and added latency).
pub const MAX_PENDING: usize = 512;

#[derive(Debug, Clone, Copy)]
struct Entry {
    socket: usize,
    dest: SocketAddr,
    /// Order of arrival, so sorting by destination keeps each destination's order.
    order: u32,
    start: usize,
    len: usize,
}

/// Counters of what the batcher did, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    pub datagrams: u64,
    pub syscalls: u64,
    pub gso_messages: u64,
    pub dropped: u64,
}

/// GSO support of one socket: asked the first time, turned off when a send refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gso {
    Unknown,
    Yes,
    No,
}

#[derive(Debug)]
pub struct SendBatch {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// The arena in send order (grouped by socket and destination), reused.
    sorted: Vec<u8>,
    gso: Vec<Gso>,
    use_gso: bool,
    pub stats: BatchStats,
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch::new(true)
    }
}

impl SendBatch {
    /// `use_gso` = false sends every datagram as its own message (sendmmsg only).
    pub fn new(use_gso: bool) -> Self {
        SendBatch {
            arena: Vec::new(),
            entries: Vec::new(),
            sorted: Vec::new(),
            gso: Vec::new(),
            use_gso,
            stats: BatchStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues one datagram for socket number `socket`.
    pub fn push(&mut self, socket: usize, dest: SocketAddr, data: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(data);
        self.entries.push(Entry {
            socket,
            dest,
            order: self.entries.len() as u32,
            start,
            len: data.len(),
        });
    }

    /// Sends everything queued; `fd_of` gives the socket of an index used in `push`.
    pub fn flush(&mut self, fd_of: impl Fn(usize) -> Option<RawFd>) {
        if self.entries.is_empty() {
            return;
        }
        // With GSO possible, group by socket and destination (each destination keeps its
        // order) so a destination's equal-size datagrams can form a train; that needs them
        // contiguous, hence the copy. Without, group by socket only and send from the arena.
        let grouped = self.use_gso
            && self
                .entries
                .iter()
                .any(|e| self.gso.get(e.socket).is_none_or(|g| *g != Gso::No));
        let buf = if grouped {
            self.entries
                .sort_unstable_by_key(|e| (e.socket, e.dest, e.order));
            self.sorted.clear();
            for e in self.entries.iter_mut() {
                let start = self.sorted.len();
                self.sorted
                    .extend_from_slice(&self.arena[e.start..e.start + e.len]);
                e.start = start;
            }
            std::mem::take(&mut self.sorted)
        } else {
            self.entries.sort_unstable_by_key(|e| (e.socket, e.order));
            std::mem::take(&mut self.arena)
        };
        let mut i = 0;
        while i < self.entries.len() {
            let socket = self.entries[i].socket;
            let end = self.entries[i..]
                .iter()
                .position(|e| e.socket != socket)
                .map_or(self.entries.len(), |n| i + n);
            match fd_of(socket) {
                Some(fd) => self.flush_socket(fd, &buf, socket, i, end),
                None => {
                    debug!("batch: no socket {socket}; dropping {} datagrams", end - i);
                    self.stats.dropped += (end - i) as u64;
                }
            }
            i = end;
        }
        self.entries.clear();
        // Keep both allocations for the next round.
        if grouped {
            self.sorted = buf;
        } else {
            self.arena = buf;
        }
        self.arena.clear();
    }

    /// The length of the GSO train starting at entry `i` (1 = no train).
    fn train(&self, i: usize, end: usize, gso: bool) -> usize {
        let first = &self.entries[i];
        if !gso || first.len == 0 {
            return 1;
        }
        let mut n = 1;
        let mut bytes = first.len;
        while i + n < end && n < GSO_MAX_SEGMENTS {
            let e = &self.entries[i + n];
            if e.dest != first.dest || e.len > first.len || bytes + e.len > GSO_MAX_BYTES {
                break;
            }
            n += 1;
            bytes += e.len;
            if e.len < first.len {
                break; // only the last segment may be shorter
            }
        }
        if n >= GSO_MIN_SEGMENTS { n } else { 1 }
    }

    fn flush_socket(&mut self, fd: RawFd, buf: &[u8], idx: usize, from: usize, to: usize) {
        if self.gso.len() <= idx {
            self.gso.resize(idx + 1, Gso::Unknown);
        }
        if self.gso[idx] == Gso::Unknown {
            self.gso[idx] = if self.use_gso && gso_supported(fd) {
                Gso::Yes
            } else {
                Gso::No
            };
        }
        let mut i = from;
        while i < to {
            let gso = self.gso[idx] == Gso::Yes;
            // Up to MMSG_MAX messages from entry i on.
            let mut msgs = [Outgoing::EMPTY; MMSG_MAX];
            let mut spans = [0usize; MMSG_MAX];
            let mut n = 0;
            let mut j = i;
            while j < to && n < MMSG_MAX {
                let k = self.train(j, to, gso);
                let first = &self.entries[j];
                let last = &self.entries[j + k - 1];
                msgs[n] = Outgoing {
                    dest: first.dest,
                    data: &buf[first.start..last.start + last.len],
                    segment: (k > 1).then_some(first.len as u16),
                };
                spans[n] = k;
                n += 1;
                j += k;
            }
            self.stats.syscalls += 1;
            match send_many(fd, &msgs[..n]) {
                Ok(sent) => {
                    let sent = sent.max(1).min(n);
                    for (m, k) in msgs[..sent].iter().zip(&spans[..sent]) {
                        self.stats.datagrams += *k as u64;
                        self.stats.gso_messages += u64::from(m.segment.is_some());
                    }
                    i += spans[..sent].iter().sum::<usize>();
                }
                Err(e) if msgs[0].segment.is_some() && is_gso_refusal(&e) => {
                    // The device cannot segment (no checksum offload): plain sends from now.
                    debug!("UDP GSO refused ({e}); sending datagrams one by one");
                    self.gso[idx] = Gso::No;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Socket buffer full: the rest would fail as well.
                    let rest = to - i;
                    debug!("send buffer full; dropping {rest} datagrams");
                    self.stats.dropped += rest as u64;
                    return;
                }
                Err(e) => {
                    debug!("send to {}: {e}", msgs[0].dest);
                    self.stats.dropped += spans[0] as u64;
                    i += spans[0];
                }
            }
        }
    }
}

fn is_gso_refusal(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;

    fn receiver() -> UdpSocket {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        rx
    }

    fn recv(rx: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let (len, _) = rx.recv_from(&mut buf).unwrap();
                buf[..len].to_vec()
            })
            .collect()
    }

    /// Interleaved fan-out: 3 receivers, 10 packets each of mixed sizes.
    fn fan_out(batch: &mut SendBatch) -> (Vec<UdpSocket>, HashMap<SocketAddr, Vec<Vec<u8>>>) {
        let rxs: Vec<UdpSocket> = (0..3).map(|_| receiver()).collect();
        let mut want: HashMap<SocketAddr, Vec<Vec<u8>>> = HashMap::new();
        for p in 0..10u8 {
            for (r, rx) in rxs.iter().enumerate() {
                let len = if p == 9 {
                    300
                } else {
                    1000 + 100 * (p as usize / 4)
                };
                let data = vec![p.wrapping_mul(7).wrapping_add(r as u8); len];
                let dest = rx.local_addr().unwrap();
                batch.push(0, dest, &data);
                want.entry(dest).or_default().push(data);
            }
        }
        (rxs, want)
    }

    fn check(rxs: &[UdpSocket], want: &HashMap<SocketAddr, Vec<Vec<u8>>>) {
        for rx in rxs {
            let w = &want[&rx.local_addr().unwrap()];
            assert_eq!(&recv(rx, w.len()), w);
        }
    }

    #[test]
    fn batched_fan_out_keeps_each_destination_in_order() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for gso in [false, true] {
            let mut b = SendBatch::new(gso);
            let (rxs, want) = fan_out(&mut b);
            assert_eq!(b.len(), 30);
            b.flush(|i| (i == 0).then(|| tx.as_raw_fd()));
            assert!(b.is_empty());
            check(&rxs, &want);
            assert_eq!(b.stats.datagrams, 30);
            assert_eq!(b.stats.dropped, 0);
            assert_eq!(b.stats.syscalls, 1);
            if gso && gso_supported(tx.as_raw_fd()) {
                // Per receiver: 4×1000, 4×1100, then 1200 + 300 as trains.
                assert_eq!(b.stats.gso_messages, 9);
            } else {
                assert_eq!(b.stats.gso_messages, 0);
            }
        }
    }

    #[test]
    fn large_batches_span_several_calls_and_the_arena_is_reused() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receiver();
        let dest = rx.local_addr().unwrap();
        let mut b = SendBatch::new(false);
        for round in 0..2u8 {
            for i in 0..70u8 {
                b.push(0, dest, &[round, i]);
            }
            b.flush(|i| (i == 0).then(|| tx.as_raw_fd()));
            let got = recv(&rx, 70);
            assert!(got.iter().enumerate().all(|(i, d)| d == &[round, i as u8]));
        }
        assert_eq!(b.stats.syscalls, 6); // 32 + 32 + 6, twice
        assert_eq!(b.stats.datagrams, 140);
    }

    /// A socket that refuses GSO (here: UDP checksums off, which the kernel rejects for a
    /// segmented send with EINVAL, as a device without checksum offload answers EIO) gets the
    /// refused train again as plain datagrams, and no GSO from then on.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_refused_gso_train_is_sent_again_datagram_by_datagram() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        if !gso_supported(tx.as_raw_fd()) {
            return; // nothing to fall back from on this kernel
        }
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value.
        let r = unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "SO_NO_CHECK");
        let rx = receiver();
        let dest = rx.local_addr().unwrap();
        let mut b = SendBatch::new(true);
        for round in 0..2u8 {
            let want: Vec<Vec<u8>> = (0..10u8).map(|i| vec![round * 10 + i; 1000]).collect();
            for d in &want {
                b.push(0, dest, d);
            }
            b.flush(|i| (i == 0).then(|| tx.as_raw_fd()));
            assert_eq!(recv(&rx, 10), want, "round {round}");
        }
        assert_eq!(b.stats.gso_messages, 0);
        assert_eq!(b.stats.datagrams, 20);
        assert_eq!(b.stats.dropped, 0);
        // The refused call, its retry, then one call for the second round.
        assert_eq!(b.stats.syscalls, 3);
    }

    #[test]
    fn unknown_socket_and_bad_destination_drop_only_their_datagrams() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = receiver();
        let dest = rx.local_addr().unwrap();
        let mut b = SendBatch::new(true);
        b.push(0, "[::1]:9".parse().unwrap(), &[0; 10]); // wrong family for this socket
        b.push(0, dest, &[1; 10]);
        b.push(5, dest, &[2; 10]); // no such socket
        b.flush(|i| (i == 0).then(|| tx.as_raw_fd()));
        assert_eq!(recv(&rx, 1), vec![vec![1u8; 10]]);
        assert_eq!(b.stats.dropped, 2);
        assert_eq!(b.stats.datagrams, 1);
    }
}
