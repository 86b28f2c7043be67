//! Which PeerConnection a datagram on the shared UDP port belongs to.
//!
//! STUN requests name their target in the USERNAME attribute ("local-ufrag:remote-ufrag",
//! RFC 8445 §7.2.2), everything else (DTLS, SRTP, SRTCP, STUN responses) by the remote
//! address the peer uses. Both maps are shared by all shards; a shard that receives a
//! datagram for a peer it does not own passes it on.

use std::collections::HashMap;
use std::net::SocketAddr;

use parking_lot::RwLock;

use crate::types::HandleId;

/// What a datagram looks like from its first byte (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketClass {
    Stun,
    Dtls,
    Rtp,
    Unknown,
}

pub fn classify(data: &[u8]) -> PacketClass {
    match data.first() {
        Some(0..=3) => PacketClass::Stun,
        Some(20..=63) => PacketClass::Dtls,
        Some(128..=191) => PacketClass::Rtp,
        _ => PacketClass::Unknown,
    }
}

const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const STUN_HEADER: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;

/// The local ufrag named by a STUN message's USERNAME attribute, if it has one.
/// Malformed messages give `None`.
pub fn stun_local_ufrag(data: &[u8]) -> Option<&str> {
    if data.len() < STUN_HEADER || data[4..8] != STUN_MAGIC || data[0] & 0xc0 != 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let body = data.get(STUN_HEADER..STUN_HEADER + len)?;
    let mut i = 0;
    while i + 4 <= body.len() {
        let typ = u16::from_be_bytes([body[i], body[i + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[i + 2], body[i + 3]]));
        let value = body.get(i + 4..i + 4 + alen)?;
        if typ == ATTR_USERNAME {
            let s = std::str::from_utf8(value).ok()?;
            return s.split(':').next().filter(|u| !u.is_empty());
        }
        // Attributes are padded to 4 bytes.
        i += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// The shared lookup tables.
#[derive(Debug, Default)]
pub struct Demux {
    by_ufrag: RwLock<HashMap<String, HandleId>>,
    by_addr: RwLock<HashMap<SocketAddr, HandleId>>,
}

impl Demux {
    /// The handle a datagram belongs to, or `None` when nobody claims it.
    pub fn lookup(&self, source: SocketAddr, data: &[u8]) -> Option<HandleId> {
        if classify(data) == PacketClass::Stun
            && let Some(ufrag) = stun_local_ufrag(data)
        {
            return self.by_ufrag.read().get(ufrag).copied();
        }
        self.by_addr.read().get(&source).copied()
    }

    pub fn add_ufrag(&self, ufrag: &str, handle: HandleId) {
        self.by_ufrag.write().insert(ufrag.to_string(), handle);
    }

    pub fn remove_ufrag(&self, ufrag: &str, handle: HandleId) {
        let mut m = self.by_ufrag.write();
        if m.get(ufrag) == Some(&handle) {
            m.remove(ufrag);
        }
    }

    /// Records that `handle` talks to `addr`; returns true when that is new.
    pub fn add_addr(&self, addr: SocketAddr, handle: HandleId) -> bool {
        if self.by_addr.read().get(&addr) == Some(&handle) {
            return false;
        }
        self.by_addr.write().insert(addr, handle);
        true
    }

    pub fn remove_addr(&self, addr: SocketAddr, handle: HandleId) {
        let mut m = self.by_addr.write();
        if m.get(&addr) == Some(&handle) {
            m.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        // A PRIORITY attribute after it, to check padding arithmetic.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&STUN_MAGIC);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn classifies_by_first_byte() {
        assert_eq!(classify(&[0x00, 0x01]), PacketClass::Stun);
        assert_eq!(classify(&[22, 254]), PacketClass::Dtls);
        assert_eq!(classify(&[0x80, 0x60]), PacketClass::Rtp);
        assert_eq!(classify(&[0xff]), PacketClass::Unknown);
        assert_eq!(classify(&[]), PacketClass::Unknown);
    }

    #[test]
    fn extracts_local_ufrag() {
        let m = stun_request("abcd:wxyz1");
        assert_eq!(stun_local_ufrag(&m), Some("abcd"));
    }

    #[test]
    fn malformed_stun_gives_none() {
        let m = stun_request("abcd:wxyz");
        assert_eq!(stun_local_ufrag(&m[..19]), None);
        assert_eq!(stun_local_ufrag(&m[..24]), None); // length says more than we have
        let mut bad_magic = m.clone();
        bad_magic[5] = 0;
        assert_eq!(stun_local_ufrag(&bad_magic), None);
        let mut bad_attr_len = m.clone();
        bad_attr_len[22] = 0xff;
        assert_eq!(stun_local_ufrag(&bad_attr_len), None);
        assert_eq!(stun_local_ufrag(&stun_request(":x")), None);
        assert_eq!(stun_local_ufrag(&[0u8; 3]), None);
    }

    #[test]
    fn lookup_by_ufrag_then_address() {
        let d = Demux::default();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        d.add_ufrag("abcd", 7);
        assert_eq!(d.lookup(a, &stun_request("abcd:x")), Some(7));
        assert_eq!(d.lookup(a, &stun_request("zzzz:x")), None);
        assert_eq!(d.lookup(a, &[0x80, 0x60, 0, 0]), None);
        assert!(d.add_addr(a, 7));
        assert!(!d.add_addr(a, 7));
        assert_eq!(d.lookup(a, &[0x80, 0x60, 0, 0]), Some(7));
        assert_eq!(d.lookup(b, &[22, 0xfe]), None);
        d.remove_addr(a, 8); // someone else's entry stays
        assert_eq!(d.lookup(a, &[22]), Some(7));
        d.remove_addr(a, 7);
        d.remove_ufrag("abcd", 7);
        assert_eq!(d.lookup(a, &[22]), None);
        assert_eq!(d.lookup(a, &stun_request("abcd:x")), None);
    }
}
