//! SRTP session keys from DTLS-SRTP keying material (RFC 5764 §4.2), derived with the
//! AES-CM key derivation function of RFC 3711 §4.3 (which RFC 7714 keeps for AES-GCM).
//!
//! Only the AEAD (GCM) profiles are handled: they are what browsers and str0m negotiate with
//! us, and their SRTP is a single AEAD call per packet.

use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;

use super::EgressError;

/// KDF labels (RFC 3711 §4.3.2).
const LABEL_RTP_KEY: u8 = 0x00;
const LABEL_RTP_SALT: u8 = 0x02;
const LABEL_RTCP_KEY: u8 = 0x03;
const LABEL_RTCP_SALT: u8 = 0x05;

/// Master (and session) salt length of the AEAD profiles (RFC 7714 §12).
pub const SALT_LEN: usize = 12;

/// The AEAD protection profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    Aes128Gcm,
    Aes256Gcm,
}

impl Aead {
    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm => 32,
        }
    }
}

/// One direction's session keys and salts.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub aead: Aead,
    pub rtp_key: Vec<u8>,
    pub rtp_salt: [u8; SALT_LEN],
    pub rtcp_key: Vec<u8>,
    pub rtcp_salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SessionKeys")
            .field("aead", &self.aead)
            .finish_non_exhaustive()
    }
}

/// Both directions of one DTLS-SRTP association.
#[derive(Debug, Clone)]
pub struct Keys {
    /// What we seal with (our writes).
    pub local: SessionKeys,
    /// What we open the remote's packets with.
    pub remote: SessionKeys,
}

impl Keys {
    /// Splits exported keying material `client key | server key | client salt | server salt`;
    /// `dtls_client` says which half is ours.
    pub fn from_keying_material(
        aead: Aead,
        material: &[u8],
        dtls_client: bool,
    ) -> Result<Keys, EgressError> {
        let k = aead.key_len();
        if material.len() != 2 * (k + SALT_LEN) {
            return Err(EgressError::KeyingMaterial(material.len()));
        }
        let client = (&material[..k], &material[2 * k..2 * k + SALT_LEN]);
        let server = (&material[k..2 * k], &material[2 * k + SALT_LEN..]);
        let (local, remote) = if dtls_client {
            (client, server)
        } else {
            (server, client)
        };
        Ok(Keys {
            local: derive(aead, local.0, local.1)?,
            remote: derive(aead, remote.0, remote.1)?,
        })
    }
}

/// The session keys of one master key and salt (key derivation rate 0).
pub fn derive(
    aead: Aead,
    master_key: &[u8],
    master_salt: &[u8],
) -> Result<SessionKeys, EgressError> {
    let alg = match aead {
        Aead::Aes128Gcm => &AES_128,
        Aead::Aes256Gcm => &AES_256,
    };
    let prf = UnboundCipherKey::new(alg, master_key)
        .and_then(EncryptingKey::ctr)
        .map_err(|_| EgressError::Crypto("KDF key"))?;
    let block = |label: u8, out: &mut [u8]| -> Result<(), EgressError> {
        // x = key_id XOR master_salt, key_id = label || index DIV kdr (0), right-aligned in
        // 112 bits (a 96-bit salt is padded with zeros); IV = x * 2^16.
        let mut iv = [0u8; 16];
        iv[..master_salt.len().min(14)].copy_from_slice(&master_salt[..master_salt.len().min(14)]);
        iv[7] ^= label;
        out.fill(0);
        prf.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map(|_| ())
            .map_err(|_| EgressError::Crypto("KDF"))
    };
    let mut rtp_key = vec![0u8; aead.key_len()];
    let mut rtcp_key = vec![0u8; aead.key_len()];
    let mut rtp_salt = [0u8; SALT_LEN];
    let mut rtcp_salt = [0u8; SALT_LEN];
    block(LABEL_RTP_KEY, &mut rtp_key)?;
    block(LABEL_RTP_SALT, &mut rtp_salt)?;
    block(LABEL_RTCP_KEY, &mut rtcp_key)?;
    block(LABEL_RTCP_SALT, &mut rtcp_salt)?;
    Ok(SessionKeys {
        aead,
        rtp_key,
        rtp_salt,
        rtcp_key,
        rtcp_salt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3711 Appendix B.3: the AES-CM PRF with a 112-bit master salt.
    #[test]
    fn kdf_matches_rfc3711_b3() {
        let master_key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let master_salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let alg = &AES_128;
        let prf = EncryptingKey::ctr(UnboundCipherKey::new(alg, &master_key).unwrap()).unwrap();
        let run = |label: u8, len: usize| {
            let mut iv = [0u8; 16];
            iv[..14].copy_from_slice(&master_salt);
            iv[7] ^= label;
            let mut out = vec![0u8; len];
            prf.less_safe_encrypt(&mut out, EncryptionContext::Iv128(FixedLength::from(iv)))
                .unwrap();
            out
        };
        assert_eq!(run(0x00, 16), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(run(0x02, 14), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(
            run(0x01, 94)[..32],
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE")[..]
        );
    }

    #[test]
    fn keying_material_halves_go_to_the_right_side() {
        let aead = Aead::Aes128Gcm;
        let material: Vec<u8> = (0..56u8).collect();
        let client = Keys::from_keying_material(aead, &material, true).unwrap();
        let server = Keys::from_keying_material(aead, &material, false).unwrap();
        assert_eq!(client.local, server.remote);
        assert_eq!(client.remote, server.local);
        assert_ne!(client.local, client.remote);
        assert_eq!(
            client.local,
            derive(aead, &material[..16], &material[32..44]).unwrap()
        );
        assert!(matches!(
            Keys::from_keying_material(Aead::Aes256Gcm, &material, true),
            Err(EgressError::KeyingMaterial(56))
        ));
    }
}
