//! Which SRTP protection profile DTLS negotiated.
//!
//! str0m 0.25 delegates DTLS to dimpl 0.9, which has no setting for SRTP profile
//! preference: as DTLS server it picks AEAD_AES_256_GCM, then AEAD_AES_128_GCM, then
//! AES128_CM_SHA1_80 from what the client offers; as DTLS client it offers all three and
//! the remote server chooses. Both GCM profiles are preferred over AES-CM + HMAC-SHA1
//! (2-3x cheaper per packet), which is what we want; AES-128-GCM itself cannot be put
//! first without patching dimpl. str0m only logs the outcome, so we wrap the DTLS provider
//! to observe it: the wrapper notes the profile and the keying material (which the native
//! send path derives its keys from) in a thread-local when they come out, and the shard
//! (which drives each Rtc on its own thread) collects them right after driving the peer.
//!
//! The wrapper also remembers when DTLS has nothing to say: str0m polls DTLS on every
//! `poll_output`, which for a forwarding peer is once per packet batch, and dimpl is a
//! sans-IO state machine whose output can only change after an input. So after a poll
//! that ended in a timeout, further polls return that timeout without asking dimpl, until
//! the next call that feeds it (packet, timeout, application data, close, role).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::DtlsVersion;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion, SrtpProfile,
};
use str0m::crypto::{CryptoError, CryptoProvider, from_feature_flags};

thread_local! {
    static KEYING: RefCell<Option<Keying>> = const { RefCell::new(None) };
}

/// The DTLS-SRTP export of a finished handshake: its profile, and its keying material for
/// the native send path (`egress`).
pub struct Keying {
    pub material: Vec<u8>,
    pub profile: SrtpProfile,
    /// This side was the DTLS client (its half of the material comes first).
    pub dtls_client: bool,
}

/// The export of the last DTLS handshake that completed on this thread since the previous
/// call (taken by the shard right after the drive that completed it).
pub fn take_keying() -> Option<Keying> {
    KEYING.with(|k| k.borrow_mut().take())
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
    /// The timeout the last poll ended in, while no input has reached `inner` since.
    idle: Option<Instant>,
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
        Ok(Box::new(RecordingDtls { inner, idle: None }))
    }

    fn is_test(&self) -> bool {
        self.inner.is_test()
    }
}

impl DtlsInstance for RecordingDtls {
    fn set_active(&mut self, active: bool) {
        self.idle = None;
        self.inner.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.idle = None;
        self.inner.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        if let Some(t) = self.idle {
            return DtlsOutput::Timeout(t);
        }
        let out = self.inner.poll_output(buf);
        match &out {
            DtlsOutput::KeyingMaterial(material, profile) => {
                let keying = Keying {
                    material: material.to_vec(),
                    profile: *profile,
                    dtls_client: self.inner.is_active(),
                };
                KEYING.with(|k| *k.borrow_mut() = Some(keying));
            }
            DtlsOutput::Timeout(t) => self.idle = Some(*t),
            _ => {}
        }
        out
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.idle = None;
        self.inner.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.idle = None;
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
        self.idle = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A DTLS instance that counts polls and answers one packet after each input.
    #[derive(Debug)]
    struct Counting {
        polls: Arc<std::sync::atomic::AtomicUsize>,
        pending: bool,
        timer: Instant,
    }

    impl DtlsInstance for Counting {
        fn set_active(&mut self, _: bool) {}
        fn handle_packet(&mut self, _: &[u8]) -> Result<(), DtlsImplError> {
            self.pending = true;
            Ok(())
        }
        fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
            self.polls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if std::mem::take(&mut self.pending) {
                buf[0] = 22;
                return DtlsOutput::Packet(&buf[..1]);
            }
            DtlsOutput::Timeout(self.timer)
        }
        fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
            self.timer = now + Duration::from_secs(1);
            Ok(())
        }
        fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
            self.pending = true;
            Ok(data.len())
        }
        fn is_active(&self) -> bool {
            false
        }
        fn protocol_version(&self) -> Option<ProtocolVersion> {
            None
        }
        fn close(&mut self) -> Result<(), DtlsImplError> {
            self.pending = true;
            Ok(())
        }
    }

    fn timeout_of(out: DtlsOutput<'_>) -> Option<Instant> {
        match out {
            DtlsOutput::Timeout(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn idle_dtls_is_not_polled_again_until_it_gets_input() {
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t0 = Instant::now();
        let mut d = RecordingDtls {
            inner: Box::new(Counting {
                polls: polls.clone(),
                pending: false,
                timer: t0,
            }),
            idle: None,
        };
        let count = || polls.load(std::sync::atomic::Ordering::Relaxed);
        let mut buf = [0u8; 64];
        assert_eq!(timeout_of(d.poll_output(&mut buf)), Some(t0));
        assert_eq!(timeout_of(d.poll_output(&mut buf)), Some(t0));
        assert_eq!(
            count(),
            1,
            "the second poll is answered from the idle timeout"
        );

        // Each kind of input makes the next poll reach the instance again.
        d.handle_packet(&[22]).unwrap();
        assert!(matches!(d.poll_output(&mut buf), DtlsOutput::Packet(_)));
        assert_eq!(timeout_of(d.poll_output(&mut buf)), Some(t0));
        assert_eq!(count(), 3);
        let t1 = t0 + Duration::from_millis(5);
        d.handle_timeout(t1).unwrap();
        assert_eq!(
            timeout_of(d.poll_output(&mut buf)),
            Some(t1 + Duration::from_secs(1))
        );
        assert_eq!(count(), 4);
        d.send_application_data(b"x").unwrap();
        assert!(matches!(d.poll_output(&mut buf), DtlsOutput::Packet(_)));
        d.poll_output(&mut buf);
        d.close().unwrap();
        assert!(matches!(d.poll_output(&mut buf), DtlsOutput::Packet(_)));
        assert_eq!(count(), 7);
    }
}
