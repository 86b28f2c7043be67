//! The mountpoint's source: plain RTP (no SRTP, no RTCP), as ffmpeg or GStreamer would send
//! it, one UDP socket per stream, at real rate from the ffmpeg-made clips. Every payload is
//! recorded in the ledger before it leaves, under the stream's index, so a viewer finds its
//! send instant by content.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::Window;
use super::flow::MountStream;
use crate::bench::ledger::{Ledger, Sent};
use crate::bench::live::Live;
use crate::bench::payload::Kind;
use crate::media::clip::{AudioClip, AudioCursor, VideoClip, VideoCursor};

/// Fixed RTP header length (no CSRCs, no extension).
pub const RTP_HEADER: usize = 12;

/// One RTP stream's sequence number, timestamp and SSRC (RFC 3550 §5.1), sans-IO.
#[derive(Debug, Clone)]
pub struct RtpStream {
    pt: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

impl RtpStream {
    /// Random start values, as RFC 3550 asks.
    pub fn new(pt: u8) -> Self {
        Self::with_start(pt, rand::random(), rand::random(), rand::random())
    }

    pub fn with_start(pt: u8, ssrc: u32, seq: u16, timestamp: u32) -> Self {
        RtpStream {
            pt: pt & 0x7f,
            ssrc,
            seq,
            timestamp,
        }
    }

    /// One packet with the current timestamp and the next sequence number.
    pub fn packet(&mut self, payload: &[u8], marker: bool) -> Vec<u8> {
        let mut p = Vec::with_capacity(RTP_HEADER + payload.len());
        p.push(0x80); // V=2, no padding, no extension, no CSRC.
        p.push(self.pt | if marker { 0x80 } else { 0 });
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// Moves the timestamp on after a frame (its duration in clock units).
    pub fn advance(&mut self, step: u32) {
        self.timestamp = self.timestamp.wrapping_add(step);
    }

    /// A video frame's packets: one timestamp, the marker on the last.
    pub fn frame(&mut self, payloads: &[Vec<u8>], step: u32) -> Vec<Vec<u8>> {
        let n = payloads.len();
        let out = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| self.packet(p, i + 1 == n))
            .collect();
        self.advance(step);
        out
    }
}

/// What a feeder needs from the run.
pub(crate) struct FeedContext {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) window: Arc<Window>,
    pub(crate) live: Arc<Live>,
    pub(crate) epoch: Instant,
    pub(crate) max_payload: usize,
}

/// Packets of one stream, counted inside the window and in all.
#[derive(Debug, Default)]
pub struct FeedCounts {
    pub in_window: AtomicU64,
    pub total: AtomicU64,
    pub send_errors: AtomicU64,
}

/// The clip a stream plays.
pub(crate) enum Source {
    Audio(Arc<AudioClip>),
    Video(Arc<VideoClip>),
}

/// One stream of the mountpoint and how it is fed.
pub(crate) struct Feed {
    /// The stream's index in the mountpoint (its key space in the ledger).
    pub(crate) index: u16,
    pub(crate) stream: MountStream,
    pub(crate) socket: UdpSocket,
    pub(crate) target: SocketAddr,
    pub(crate) source: Source,
}

/// Sends one stream until `stop`.
pub(crate) async fn feed(
    f: Feed,
    ctx: Arc<FeedContext>,
    counts: Arc<FeedCounts>,
    mut stop: watch::Receiver<bool>,
) {
    let Feed {
        index,
        stream,
        socket,
        target,
        source,
    } = f;
    let mut rtp = RtpStream::new(stream.pt);
    // Streams of one mountpoint start at different points of the clip.
    let offset = usize::from(index) * 37;
    let (mut audio, mut video, period) = match source {
        Source::Audio(c) => (
            Some(AudioCursor::new(c, offset)),
            None,
            Duration::from_millis(20),
        ),
        Source::Video(c) => {
            let cursor = VideoCursor::new(c, offset);
            let period = Duration::from_secs(1) / cursor.fps();
            (None, Some(cursor), period)
        }
    };
    let mut tick = tokio::time::interval(period);
    // A late tick is sent late, not in a burst: real sources do not catch up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let at_us = ctx.epoch.elapsed().as_micros() as u64;
        let packets = if let Some(a) = &mut audio {
            let (payload, step) = a.next_packet();
            record(&ctx, index, &payload, at_us, Kind::Audio);
            let p = rtp.packet(&payload, false);
            rtp.advance(step);
            vec![p]
        } else if let Some(v) = &mut video {
            let frame = v.next_frame(ctx.max_payload);
            for p in &frame.packets {
                record(&ctx, index, p, at_us, Kind::Video);
            }
            rtp.frame(&frame.packets, v.rtp_step())
        } else {
            break;
        };
        let n = packets.len() as u64;
        for p in &packets {
            if let Err(e) = socket.send_to(p, target).await
                && counts.send_errors.fetch_add(1, Ordering::Relaxed) == 0
            {
                tracing::warn!(mid = %stream.mid, "RTP to {target}: {e}");
            }
        }
        counts.total.fetch_add(n, Ordering::Relaxed);
        ctx.live.sent_packets.fetch_add(n, Ordering::Relaxed);
        if ctx.window.contains(at_us) {
            counts.in_window.fetch_add(n, Ordering::Relaxed);
        }
    }
}

fn record(ctx: &FeedContext, index: u16, payload: &[u8], at_us: u64, kind: Kind) {
    ctx.ledger.record(
        index,
        payload,
        Sent {
            at_us,
            kind,
            layer: 0,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rfc3550_headers() {
        let mut s = RtpStream::with_start(111, 0x0102_0304, 0xfffe, 0xffff_ff00);
        let p = s.packet(&[9, 8, 7], false);
        assert_eq!(
            p,
            vec![
                0x80, 111, 0xff, 0xfe, 0xff, 0xff, 0xff, 0x00, 1, 2, 3, 4, 9, 8, 7
            ]
        );
        s.advance(960);
        // Sequence number and timestamp wrap.
        let p = s.packet(&[], true);
        assert_eq!(&p[..8], &[0x80, 0x80 | 111, 0xff, 0xff, 0, 0, 0x02, 0xc0]);
        let p = s.packet(&[], false);
        assert_eq!(&p[2..4], &[0, 0]);
        // A payload type is 7 bits whatever is passed.
        assert_eq!(
            RtpStream::with_start(0xe4, 0, 0, 0).packet(&[], false)[1],
            0x64
        );
    }

    #[test]
    fn a_frame_shares_one_timestamp_and_ends_with_the_marker() {
        let mut s = RtpStream::with_start(100, 7, 10, 1000);
        let f = s.frame(&[vec![1], vec![2], vec![3]], 3000);
        assert_eq!(f.len(), 3);
        for (i, p) in f.iter().enumerate() {
            assert_eq!(&p[4..8], &1000u32.to_be_bytes());
            assert_eq!(u16::from_be_bytes([p[2], p[3]]), 10 + i as u16);
            assert_eq!(p[1] & 0x80 != 0, i == 2);
            assert_eq!(p[RTP_HEADER], i as u8 + 1);
        }
        let next = s.frame(&[vec![4]], 3000);
        assert_eq!(&next[0][4..8], &4000u32.to_be_bytes());
        assert_eq!(next[0][1], 0x80 | 100);
        assert!(s.frame(&[], 3000).is_empty());
    }
}
