//! AES-GCM SRTP and SRTCP (RFC 7714 §8, §9), with a key context built once per direction.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::EgressError;
use super::keys::{Aead, SALT_LEN, SessionKeys};

/// GCM authentication tag length.
pub const TAG_LEN: usize = 16;
/// SRTCP trailer: E flag and 31-bit index.
const SRTCP_INDEX_LEN: usize = 4;
/// RTCP header plus sender SSRC: authenticated, not encrypted.
const SRTCP_CLEAR: usize = 8;

fn key(aead: Aead, key: &[u8]) -> Result<LessSafeKey, EgressError> {
    let alg = match aead {
        Aead::Aes128Gcm => &AES_128_GCM,
        Aead::Aes256Gcm => &AES_256_GCM,
    };
    UnboundKey::new(alg, key)
        .map(LessSafeKey::new)
        .map_err(|_| EgressError::Crypto("AEAD key"))
}

/// The 12-byte IV of an RTP packet (RFC 7714 §8.1): `00 00 | SSRC | ROC | SEQ` XOR salt,
/// ROC and SEQ being the upper 32 and lower 16 bits of its 48-bit index.
fn rtp_iv(salt: &[u8; SALT_LEN], ssrc: u32, index: u64) -> Nonce {
    let mut n = [0u8; SALT_LEN];
    n[2..6].copy_from_slice(&ssrc.to_be_bytes());
    n[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    salted(n, salt)
}

/// The 12-byte IV of an SRTCP packet (RFC 7714 §9.1): `00 00 | SSRC | 00 00 | index` XOR
/// salt.
fn rtcp_iv(salt: &[u8; SALT_LEN], ssrc: u32, index: u32) -> Nonce {
    let mut n = [0u8; SALT_LEN];
    n[2..6].copy_from_slice(&ssrc.to_be_bytes());
    n[8..12].copy_from_slice(&index.to_be_bytes());
    salted(n, salt)
}

fn salted(mut n: [u8; SALT_LEN], salt: &[u8; SALT_LEN]) -> Nonce {
    for (x, s) in n.iter_mut().zip(salt) {
        *x ^= s;
    }
    Nonce::assume_unique_for_key(n)
}

/// Seals RTP packets of one direction.
pub struct RtpSealer {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for RtpSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtpSealer")
    }
}

impl RtpSealer {
    pub fn new(keys: &SessionKeys) -> Result<Self, EgressError> {
        Ok(RtpSealer {
            key: key(keys.aead, &keys.rtp_key)?,
            salt: keys.rtp_salt,
        })
    }

    /// Encrypts `packet[header_len..]` in place (the header is the associated data) and
    /// appends the tag. `index` is the packet's 48-bit extended sequence number.
    pub fn seal(
        &self,
        packet: &mut Vec<u8>,
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), EgressError> {
        let nonce = rtp_iv(&self.salt, ssrc, index);
        let (header, payload) = packet.split_at_mut(header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
            .map_err(|_| EgressError::Crypto("seal"))?;
        packet.extend_from_slice(tag.as_ref());
        Ok(())
    }
}

/// Opens and seals SRTCP of one direction, keeping the sender's index (see `egress::rtcp`).
pub struct RtcpCipher {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for RtcpCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtcpCipher")
    }
}

impl RtcpCipher {
    pub fn new(keys: &SessionKeys) -> Result<Self, EgressError> {
        Ok(RtcpCipher {
            key: key(keys.aead, &keys.rtcp_key)?,
            salt: keys.rtcp_salt,
        })
    }

    /// Opens an SRTCP packet: the plain compound RTCP and the SRTCP index it was sealed with.
    pub fn open(&self, srtcp: &[u8]) -> Result<(Vec<u8>, u32), EgressError> {
        if srtcp.len() < SRTCP_CLEAR + TAG_LEN + SRTCP_INDEX_LEN {
            return Err(EgressError::Rtcp("SRTCP packet too short"));
        }
        let trailer_at = srtcp.len() - SRTCP_INDEX_LEN;
        let trailer: [u8; 4] = srtcp[trailer_at..]
            .try_into()
            .map_err(|_| EgressError::Rtcp("SRTCP trailer"))?;
        let e_index = u32::from_be_bytes(trailer);
        if e_index & 0x8000_0000 == 0 {
            return Err(EgressError::Rtcp("unencrypted SRTCP"));
        }
        let index = e_index & 0x7fff_ffff;
        let ssrc = u32::from_be_bytes([srtcp[4], srtcp[5], srtcp[6], srtcp[7]]);
        let mut aad = [0u8; SRTCP_CLEAR + SRTCP_INDEX_LEN];
        aad[..SRTCP_CLEAR].copy_from_slice(&srtcp[..SRTCP_CLEAR]);
        aad[SRTCP_CLEAR..].copy_from_slice(&trailer);
        let mut body = srtcp[SRTCP_CLEAR..trailer_at].to_vec();
        let plain_len = self
            .key
            .open_in_place(rtcp_iv(&self.salt, ssrc, index), Aad::from(aad), &mut body)
            .map_err(|_| EgressError::Crypto("SRTCP authentication failed"))?
            .len();
        let mut out = Vec::with_capacity(SRTCP_CLEAR + plain_len);
        out.extend_from_slice(&srtcp[..SRTCP_CLEAR]);
        out.extend_from_slice(&body[..plain_len]);
        Ok((out, index))
    }

    /// Seals compound RTCP with SRTCP index `index` (encrypted, E flag set).
    pub fn seal(&self, rtcp: &[u8], index: u32) -> Result<Vec<u8>, EgressError> {
        if rtcp.len() < SRTCP_CLEAR {
            return Err(EgressError::Rtcp("RTCP packet too short"));
        }
        let trailer = (0x8000_0000 | (index & 0x7fff_ffff)).to_be_bytes();
        let ssrc = u32::from_be_bytes([rtcp[4], rtcp[5], rtcp[6], rtcp[7]]);
        let mut aad = [0u8; SRTCP_CLEAR + SRTCP_INDEX_LEN];
        aad[..SRTCP_CLEAR].copy_from_slice(&rtcp[..SRTCP_CLEAR]);
        aad[SRTCP_CLEAR..].copy_from_slice(&trailer);
        let mut out = Vec::with_capacity(rtcp.len() + TAG_LEN + SRTCP_INDEX_LEN);
        out.extend_from_slice(rtcp);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                rtcp_iv(&self.salt, ssrc, index & 0x7fff_ffff),
                Aad::from(aad),
                &mut out[SRTCP_CLEAR..],
            )
            .map_err(|_| EgressError::Crypto("SRTCP seal"))?;
        out.extend_from_slice(tag.as_ref());
        out.extend_from_slice(&trailer);
        Ok(out)
    }
}

#[cfg(test)]
impl RtpSealer {
    /// Opens what `seal` made (the receiver's side, for tests).
    pub fn open(&self, packet: &[u8], header_len: usize, ssrc: u32, index: u64) -> Option<Vec<u8>> {
        let nonce = rtp_iv(&self.salt, ssrc, index);
        let mut body = packet[header_len..].to_vec();
        let n = self
            .key
            .open_in_place(nonce, Aad::from(&packet[..header_len]), &mut body)
            .ok()?
            .len();
        body.truncate(n);
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn keys(aead: Aead, key: Vec<u8>, salt: Vec<u8>) -> SessionKeys {
        let salt: [u8; SALT_LEN] = salt.try_into().unwrap();
        SessionKeys {
            aead,
            rtp_key: key.clone(),
            rtp_salt: salt,
            rtcp_key: key,
            rtcp_salt: salt,
        }
    }

    /// RFC 7714 §16.1.1: AEAD_AES_128_GCM encryption of an RTP packet (the session key
    /// and salt given directly).
    #[test]
    fn rtp_seal_matches_rfc7714_vector() {
        let k = keys(
            Aead::Aes128Gcm,
            hex("000102030405060708090a0b0c0d0e0f"),
            hex("517569642070726f2071756f"),
        );
        let sealer = RtpSealer::new(&k).unwrap();
        let mut packet = hex(
            "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
             69736120 696e2070 61727465 73207472 6573",
        );
        sealer.seal(&mut packet, 12, 0x5501a0b2, 0xf17b).unwrap();
        let expected = hex(
            "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
             0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439
             0cce",
        );
        assert_eq!(packet, expected);
    }

    #[test]
    fn srtcp_round_trip_keeps_the_index_and_rejects_tampering() {
        let k = keys(Aead::Aes256Gcm, vec![7u8; 32], vec![9u8; 12]);
        let c = RtcpCipher::new(&k).unwrap();
        // An SR: header, SSRC, sender info.
        let mut sr = vec![0x80, 200, 0, 6];
        sr.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        sr.extend_from_slice(&[1u8; 20]);
        let sealed = c.seal(&sr, 77).unwrap();
        assert_eq!(&sealed[..8], &sr[..8], "header and SSRC stay clear");
        assert_ne!(&sealed[8..28], &sr[8..], "the rest is encrypted");
        let (plain, index) = c.open(&sealed).unwrap();
        assert_eq!((plain, index), (sr.clone(), 77));
        for at in [0, 9, sealed.len() - 5, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(c.open(&bad).is_err(), "a flipped bit at {at} must fail");
        }
        assert!(c.open(&sealed[..20]).is_err());
        let mut clear = sealed.clone();
        let n = clear.len();
        clear[n - 4] &= 0x7f;
        assert!(c.open(&clear).is_err(), "E flag cleared");
    }
}
