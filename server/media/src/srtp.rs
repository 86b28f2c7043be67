//! Which SRTP protection profile DTLS negotiated.
//!
//! str0m 0.25 delegates DTLS to dimpl 0.9, which has no setting for SRTP profile
//! preference: as DTLS server it picks AEAD_AES_256_GCM, then AEAD_AES_128_GCM, then
//! AES128_CM_SHA1_80 from what the client offers; as DTLS client it offers all three and
//! the remote server chooses. Both GCM profiles are preferred over AES-CM + HMAC-SHA1
//! (2-3x cheaper per packet), which is what we want; AES-128-GCM itself cannot be put
//! first without patching dimpl. str0m only logs the outcome, so we wrap the DTLS provider
//! to observe it: the wrapper notes the profile in a thread-local when the keying material
//! comes out, and the shard (which drives each Rtc on its own thread) collects it right
//! after driving the peer.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::DtlsVersion;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion, SrtpProfile,
};
use str0m::crypto::{CryptoError, CryptoProvider, from_feature_flags};

thread_local! {
    static NEGOTIATED: Cell<Option<SrtpProfile>> = const { Cell::new(None) };
}

/// The profile negotiated by the last DTLS handshake that completed on this thread since
/// the previous call.
pub fn take_negotiated() -> Option<SrtpProfile> {
    NEGOTIATED.with(|c| c.take())
}

/// Janus-style name of a profile.
pub fn profile_name(p: SrtpProfile) -> &'static str {
    match p {
        SrtpProfile::AES128_CM_SHA1_80 => "SRTP_AES128_CM_SHA1_80",
        SrtpProfile::AEAD_AES_128_GCM => "SRTP_AEAD_AES_128_GCM",
        SrtpProfile::AEAD_AES_256_GCM => "SRTP_AEAD_AES_256_GCM",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

#[derive(Debug)]
struct RecordingDtlsProvider {
    inner: &'static dyn DtlsProvider,
}

#[derive(Debug)]
struct RecordingDtls {
    inner: Box<dyn DtlsInstance>,
}

impl DtlsProvider for RecordingDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        self.inner.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let inner = self.inner.new_dtls(cert, now, dtls_version, mtu)?;
        Ok(Box::new(RecordingDtls { inner }))
    }

    fn is_test(&self) -> bool {
        self.inner.is_test()
    }
}

impl DtlsInstance for RecordingDtls {
    fn set_active(&mut self, active: bool) {
        self.inner.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.inner.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let out = self.inner.poll_output(buf);
        if let DtlsOutput::KeyingMaterial(_, profile) = &out {
            NEGOTIATED.with(|c| c.set(Some(*profile)));
        }
        out
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.inner.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.inner.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.inner.close()
    }
}

/// The crypto provider every Rtc of the engine uses: str0m's default with DTLS wrapped.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = from_feature_flags();
            let dtls: &'static RecordingDtlsProvider = Box::leak(Box::new(RecordingDtlsProvider {
                inner: base.dtls_provider,
            }));
            Arc::new(CryptoProvider {
                dtls_provider: dtls,
                ..base
            })
        })
        .clone()
}
