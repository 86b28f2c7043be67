//! Which SRTP profile did DTLS negotiate? str0m 0.25 does not expose it, so we wrap the SRTP
//! half of its crypto provider: str0m builds the cipher of exactly the negotiated profile,
//! synchronously inside `handle_input`/`poll_output`, so a thread-local written by the factory
//! and read right after that call names the profile of the `Rtc` that just ran.

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use str0m::crypto::{
    CryptoProvider, SrtpProvider, SupportedAeadAes128Gcm, SupportedAeadAes256Gcm,
    SupportedAes128CmSha1_80,
};

/// An SRTP protection profile (RFC 5764 / RFC 7714 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfileName {
    Aes128CmSha1_80,
    AeadAes128Gcm,
    AeadAes256Gcm,
}

impl fmt::Display for SrtpProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SrtpProfileName::Aes128CmSha1_80 => "SRTP_AES128_CM_HMAC_SHA1_80",
            SrtpProfileName::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            SrtpProfileName::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        })
    }
}

thread_local! {
    static OBSERVED: Cell<Option<SrtpProfileName>> = const { Cell::new(None) };
}

/// Takes the profile whose cipher was created on this thread since the last call.
pub(crate) fn take_observed() -> Option<SrtpProfileName> {
    OBSERVED.with(|c| c.take())
}

fn note(p: SrtpProfileName) {
    OBSERVED.with(|c| c.set(Some(p)));
}

#[derive(Debug)]
struct Observing {
    inner: &'static dyn SrtpProvider,
}

impl SrtpProvider for Observing {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        note(SrtpProfileName::Aes128CmSha1_80);
        self.inner.aes_128_cm_sha1_80()
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        note(SrtpProfileName::AeadAes128Gcm);
        self.inner.aead_aes_128_gcm()
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        note(SrtpProfileName::AeadAes256Gcm);
        self.inner.aead_aes_256_gcm()
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_128_ecb_round(key, input, output)
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        self.inner.srtp_aes_256_ecb_round(key, input, output)
    }
}

/// The default provider with the observing SRTP factory, built once per process.
pub(crate) fn observing_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut p = str0m::crypto::from_feature_flags();
            // Leaked once per process: the provider wants a 'static reference.
            p.srtp_provider = Box::leak(Box::new(Observing {
                inner: p.srtp_provider,
            }));
            Arc::new(p)
        })
        .clone()
}
