//! `portunus-bench`: a Janus-API load generator. Many str0m peers in one process send media
//! at real rates through a gateway and measure what comes back (loss, round-trip time,
//! jitter, setup time), plus the CPU time and memory of the server and of the tool itself.
//!
//! - [`stats`]: latency histogram, loss from sequence numbers, interarrival jitter.
//! - [`payload`]: the measured payload (kind, sequence, send time) and media frame shapes.
//! - [`procfs`]: CPU time and RSS of a process from `/proc`.
//! - [`echotest`]: the EchoTest scenario (N parallel echo sessions).
//! - [`videoroom`]: the VideoRoom scenario (P publishers of real VP8 + Opus, N subscribers).
//! - [`streaming`]: the Streaming scenario (one RTP mountpoint fed by the tool, N viewers).
//! - [`ledger`]: send instants of every published packet, found by content at subscribers.
//! - [`live`]: the run's phase and counters for the progress bar.
//! - [`receivers`]: what the VideoRoom and Streaming reports share (window, rows, totals).
//! - [`report`]: the results table and JSON.

pub mod compare;
pub mod echotest;
pub mod ledger;
pub mod live;
pub mod payload;
pub mod procfs;
pub mod receivers;
pub mod report;
pub mod stats;
pub mod streaming;
pub mod videoroom;
