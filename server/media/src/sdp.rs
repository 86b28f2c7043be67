//! SDP text helpers around str0m: validation, the summary plugins see, adapting a client
//! offer to what the plugin answers (str0m answers by mirroring the offer, so we shape the
//! offer first), `a=end-of-candidates`, and trickled candidate lines.
//!
//! str0m parses and writes the SDP itself; these helpers only read or edit lines.

use str0m::Candidate;
use str0m::change::SdpOffer;

use crate::error::MediaError;
use crate::types::{AnswerSpec, Direction, MediaKind, MediaLine, SdpSummary};

/// Parses a client offer with str0m; anything it rejects is `InvalidSdp`.
pub fn parse_offer(sdp: &str) -> Result<SdpOffer, MediaError> {
    check_starts_with_version(sdp)?;
    SdpOffer::from_sdp_string(sdp).map_err(|e| MediaError::InvalidSdp(e.to_string()))
}

pub fn check_starts_with_version(sdp: &str) -> Result<(), MediaError> {
    if sdp.trim_start().starts_with("v=") {
        Ok(())
    } else {
        Err(MediaError::InvalidSdp("SDP must start with v=".into()))
    }
}

fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
}

fn parse_direction(attr: &str) -> Option<Direction> {
    match attr {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

/// The other side's view of a direction.
pub fn invert(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        d => d,
    }
}

fn sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

fn receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

fn from_flags(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// Codec names that are not media codecs of their own.
fn is_auxiliary(codec: &str) -> bool {
    matches!(codec, "rtx" | "red" | "ulpfec") || codec.starts_with("flexfec")
}

fn static_codec(pt: &str) -> Option<&'static str> {
    match pt {
        "0" => Some("pcmu"),
        "8" => Some("pcma"),
        "9" => Some("g722"),
        _ => None,
    }
}

/// One m-section of an SDP, as line ranges.
struct Section<'a> {
    m_line: &'a str,
    attrs: Vec<&'a str>,
}

impl<'a> Section<'a> {
    /// The section's `a=mid`, trimmed.
    fn mid(&self) -> Option<&'a str> {
        self.attrs
            .iter()
            .find_map(|a| attr_value(a, "mid"))
            .map(str::trim)
    }
}

fn sections(sdp: &str) -> (Vec<&str>, Vec<Section<'_>>) {
    let mut session = Vec::new();
    let mut out: Vec<Section> = Vec::new();
    for l in lines(sdp) {
        if l.starts_with("m=") {
            out.push(Section {
                m_line: l,
                attrs: Vec::new(),
            });
        } else if let Some(s) = out.last_mut() {
            s.attrs.push(l);
        } else {
            session.push(l);
        }
    }
    (session, out)
}

/// `m=<media> <port> <proto> <fmt>...` split into its parts.
fn m_parts(m_line: &str) -> (&str, &str, Vec<&str>) {
    let mut it = m_line.trim_start_matches("m=").split_whitespace();
    let media = it.next().unwrap_or("");
    let port = it.next().unwrap_or("");
    let _proto = it.next();
    (media, port, it.collect())
}

fn attr_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix("a=")?
        .strip_prefix(name)?
        .strip_prefix(':')
}

/// `a=rtpmap:<pt> <name>/...` → (pt, lower-case name).
fn rtpmap(line: &str) -> Option<(&str, String)> {
    let v = attr_value(line, "rtpmap")?;
    let (pt, rest) = v.split_once(' ')?;
    let name = rest.split('/').next()?.to_ascii_lowercase();
    Some((pt, name))
}

/// What a plugin sees of a client SDP.
pub fn summarize(sdp: &str, update: bool) -> SdpSummary {
    let (_, secs) = sections(sdp);
    let mut summary = SdpSummary {
        update,
        ..Default::default()
    };
    for (index, s) in secs.iter().enumerate() {
        let (media, port, fmts) = m_parts(s.m_line);
        let kind = match media {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => {
                summary.data_channels |= port != "0";
                continue;
            }
            _ => continue,
        };
        let mut mid = index.to_string();
        let mut direction = Direction::SendRecv;
        let mut names: Vec<(&str, String)> = Vec::new();
        let mut rids = Vec::new();
        let mut audio_level = false;
        for a in &s.attrs {
            if let Some(e) = attr_value(a, "extmap") {
                audio_level |= e.split_whitespace().nth(1) == Some(AUDIO_LEVEL_URI);
            } else if let Some(m) = attr_value(a, "mid") {
                mid = m.trim().to_string();
            } else if let Some(d) = a.strip_prefix("a=").and_then(parse_direction) {
                direction = d;
            } else if let Some(map) = rtpmap(a) {
                names.push(map);
            } else if let Some(r) = attr_value(a, "rid") {
                let mut p = r.split_whitespace();
                if let (Some(id), Some("send")) = (p.next(), p.next()) {
                    rids.push(id.to_string());
                }
            }
        }
        if port == "0" {
            direction = Direction::Inactive;
        }
        let mut codecs: Vec<String> = Vec::new();
        for pt in fmts {
            let name = names
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, n)| n.clone())
                .or_else(|| static_codec(pt).map(str::to_string));
            if let Some(n) = name
                && !is_auxiliary(&n)
                && !codecs.contains(&n)
            {
                codecs.push(n);
            }
        }
        let layers = if rids.is_empty() {
            sim_group(&s.attrs).len()
        } else {
            rids.len()
        };
        summary.media.push(MediaLine {
            index: index as u32,
            mid,
            kind,
            direction,
            codecs,
            simulcast_layers: layers.min(usize::from(u8::MAX)) as u8,
            rids,
            audio_level,
        });
    }
    summary
}

/// RFC 6464 client-to-mixer audio level header extension.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The SSRCs of an `a=ssrc-group:SIM` (SSRC-signalled simulcast, lowest layer first as
/// Chromium lists them); empty when there is none or it is malformed.
fn sim_group(attrs: &[&str]) -> Vec<u32> {
    attrs
        .iter()
        .filter_map(|a| attr_value(a, "ssrc-group"))
        .find_map(|g| {
            let mut it = g.split_whitespace();
            (it.next() == Some("SIM"))
                .then(|| it.map(str::parse::<u32>).collect::<Result<Vec<_>, _>>())
        })
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Per m-line (by mid), the SSRCs of its `a=ssrc-group:SIM`, lowest layer first; only
/// m-lines that have one.
pub fn simulcast_ssrcs(sdp: &str) -> Vec<(String, Vec<u32>)> {
    let (_, secs) = sections(sdp);
    secs.iter()
        .filter_map(|s| {
            let mid = s.mid()?;
            let ssrcs = sim_group(&s.attrs);
            (!ssrcs.is_empty()).then(|| (mid.to_string(), ssrcs))
        })
        .collect()
}

/// The mid of the first m-line, whatever its kind (the BUNDLE transport's candidates
/// are trickled for it).
pub fn first_mid(sdp: &str) -> Option<String> {
    let (_, secs) = sections(sdp);
    let first = secs.first()?;
    Some(first.mid().unwrap_or("0").to_string())
}

/// The mid of the data-channel (`m=application`) m-line, if the SDP has one.
pub fn application_mid(sdp: &str) -> Option<String> {
    let (_, secs) = sections(sdp);
    secs.iter()
        .find(|s| s.m_line.starts_with("m=application"))
        .and_then(Section::mid)
        .map(str::to_string)
}

/// Rewrites a client offer so that str0m's mirrored answer is the one the plugin asked
/// for: rejected m-lines get port 0 (and leave the BUNDLE group), directions are set to
/// the inverse of the wanted answer direction (limited by what the client offered), and a
/// chosen codec removes the other payload types. Unlisted m-lines stay as they are.
pub fn shape_offer(sdp: &str, spec: &AnswerSpec) -> String {
    let (session, secs) = sections(sdp);
    let mut rejected: Vec<String> = Vec::new();
    let mut out_secs: Vec<Vec<String>> = Vec::new();
    for s in &secs {
        let (media, port, fmts) = m_parts(s.m_line);
        let mid = s.mid().map(str::to_string);
        let choice = mid
            .as_ref()
            .and_then(|mid| spec.media.iter().find(|m| &m.mid == mid));
        let reject_app = media == "application" && !spec.data_channels;
        let reject = reject_app || choice.is_some_and(|c| !c.accept);
        let mut m_line = s.m_line.to_string();
        let mut attrs: Vec<String> = s.attrs.iter().map(|a| a.to_string()).collect();
        if reject && port != "0" {
            if let Some(mid) = &mid {
                rejected.push(mid.clone());
            }
            m_line = replace_port(s.m_line, "0");
        } else if let Some(c) = choice {
            let offered = s
                .attrs
                .iter()
                .find_map(|a| a.strip_prefix("a=").and_then(parse_direction))
                .unwrap_or(Direction::SendRecv);
            // The answer can only send what the client receives and vice versa.
            let answer = from_flags(
                sends(c.direction) && receives(offered),
                receives(c.direction) && sends(offered),
            );
            let wanted = direction_str(invert(answer));
            let mut found = false;
            for a in attrs.iter_mut() {
                if a.strip_prefix("a=").and_then(parse_direction).is_some() {
                    *a = format!("a={wanted}");
                    found = true;
                }
            }
            if !found {
                attrs.push(format!("a={wanted}"));
            }
            if let Some(codec) = &c.codec
                && let Some((m, a)) =
                    keep_codecs(s.m_line, &fmts, &attrs, std::slice::from_ref(codec))
            {
                m_line = m;
                attrs = a;
            }
        }
        let mut sec = vec![m_line];
        sec.extend(attrs);
        out_secs.push(sec);
    }
    let mut out = String::with_capacity(sdp.len());
    for l in session {
        if let Some(group) = attr_value(l, "group")
            && !rejected.is_empty()
        {
            let kept: Vec<&str> = group
                .split_whitespace()
                .filter(|t| !rejected.iter().any(|r| r == t))
                .collect();
            out.push_str("a=group:");
            out.push_str(&kept.join(" "));
        } else {
            out.push_str(l);
        }
        out.push_str("\r\n");
    }
    for sec in out_secs {
        for l in sec {
            out.push_str(&l);
            out.push_str("\r\n");
        }
    }
    out
}

fn replace_port(m_line: &str, port: &str) -> String {
    let mut parts: Vec<&str> = m_line.split(' ').collect();
    if parts.len() > 1 {
        parts[1] = port;
    }
    parts.join(" ")
}

/// Keeps only the payload types of `codecs` (names, in preference order; the m-line is
/// reordered to it) and the RTX that repairs them; `None` when the m-line offers none of
/// them, so the caller decides what that means.
fn keep_codecs(
    m_line: &str,
    fmts: &[&str],
    attrs: &[String],
    codecs: &[String],
) -> Option<(String, Vec<String>)> {
    let maps: Vec<(&str, String)> = attrs.iter().filter_map(|a| rtpmap(a)).collect();
    let name_of = |pt: &str| -> Option<String> {
        maps.iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.clone())
            .or_else(|| static_codec(pt).map(str::to_string))
    };
    let mut keep: Vec<String> = Vec::new();
    for codec in codecs {
        let codec = codec.to_ascii_lowercase();
        for pt in fmts {
            if name_of(pt).as_deref() == Some(codec.as_str()) && !keep.iter().any(|k| k == pt) {
                keep.push(pt.to_string());
            }
        }
    }
    if keep.is_empty() {
        return None;
    }
    // RTX payload types whose apt is a kept one, after the media ones.
    let rtx: Vec<String> = attrs
        .iter()
        .filter_map(|a| {
            let v = attr_value(a, "fmtp")?;
            let (pt, params) = v.split_once(' ')?;
            let apt = params
                .split(';')
                .find_map(|p| p.trim().strip_prefix("apt="))?;
            keep.iter().any(|k| k == apt).then(|| pt.to_string())
        })
        .filter(|pt| name_of(pt).as_deref() == Some("rtx") && fmts.contains(&pt.as_str()))
        .collect();
    keep.extend(rtx);
    let head: Vec<&str> = m_line.split(' ').take(3).collect();
    let m = format!("{} {}", head.join(" "), keep.join(" "));
    let pt_of = |a: &str| -> Option<String> {
        ["rtpmap", "fmtp", "rtcp-fb"].iter().find_map(|name| {
            attr_value(a, name).map(|v| v.split(' ').next().unwrap_or("").to_string())
        })
    };
    let attrs = attrs
        .iter()
        .filter(|a| match pt_of(a) {
            Some(pt) if pt != "*" => keep.contains(&pt),
            _ => true,
        })
        .cloned()
        .collect();
    Some((m, attrs))
}

/// Restricts the codecs of some m-lines of an SDP we wrote (a server offer): for each
/// `(mid, codecs)`, only those codecs, in that order (see [`keep_codecs`]). str0m has no
/// per-m-line codec setting, and it takes the payload types of the client's answer, which
/// can only pick among what the offer listed. An m-line offering none of its codecs is an
/// error naming it.
pub fn restrict_codecs(sdp: &str, wanted: &[(String, Vec<String>)]) -> Result<String, MediaError> {
    let (session, secs) = sections(sdp);
    let mut out = String::with_capacity(sdp.len());
    for l in session {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for s in &secs {
        let mid = s.mid();
        let codecs = mid.and_then(|mid| {
            wanted
                .iter()
                .find(|(m, c)| m == mid && !c.is_empty())
                .map(|(_, c)| c)
        });
        let mut m_line = s.m_line.to_string();
        let mut attrs: Vec<String> = s.attrs.iter().map(|a| a.to_string()).collect();
        if let Some(codecs) = codecs {
            let (_, _, fmts) = m_parts(s.m_line);
            let Some((m, a)) = keep_codecs(s.m_line, &fmts, &attrs, codecs) else {
                return Err(MediaError::WrongState(format!(
                    "m-line {} cannot offer any of the codecs {codecs:?}",
                    mid.unwrap_or("?")
                )));
            };
            m_line = m;
            attrs = a;
        }
        out.push_str(&m_line);
        out.push_str("\r\n");
        for a in attrs {
            out.push_str(&a);
            out.push_str("\r\n");
        }
    }
    Ok(out)
}

/// Adds `a=end-of-candidates` after the candidates of every m-section that has some, so
/// a client that never trickles knows it has them all.
pub fn add_end_of_candidates(sdp: &str) -> String {
    let (session, secs) = sections(sdp);
    let mut out = String::with_capacity(sdp.len() + 64);
    for l in session {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for s in secs {
        out.push_str(s.m_line);
        out.push_str("\r\n");
        let has_end = s.attrs.contains(&"a=end-of-candidates");
        let last_cand = s.attrs.iter().rposition(|a| a.starts_with("a=candidate:"));
        for (i, a) in s.attrs.iter().enumerate() {
            out.push_str(a);
            out.push_str("\r\n");
            if !has_end && Some(i) == last_cand {
                out.push_str("a=end-of-candidates\r\n");
            }
        }
    }
    out
}

/// Parses a trickled `candidate:` line (with or without `a=`).
pub fn parse_candidate(line: &str) -> Result<Candidate, MediaError> {
    let s = line.trim();
    let s = s.strip_prefix("a=").unwrap_or(s);
    if !s.starts_with("candidate:") {
        return Err(MediaError::InvalidCandidate(format!(
            "not a candidate line: {line:?}"
        )));
    }
    Candidate::from_sdp_string(s).map_err(|e| MediaError::InvalidCandidate(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MediaAnswer;

    pub(crate) const CHROME_LIKE: &str = "v=0\r\n\
o=- 123 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1 2\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:1\r\n\
a=sendonly\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtcp-fb:102 nack pli\r\n\
a=rtpmap:103 rtx/90000\r\n\
a=fmtp:103 apt=102\r\n\
a=rid:h send\r\n\
a=rid:l send\r\n\
a=simulcast:send h;l\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:2\r\n\
a=sctp-port:5000\r\n";

    #[test]
    fn summary_lists_media_codecs_rids_and_data() {
        let s = summarize(CHROME_LIKE, false);
        assert!(s.data_channels);
        assert!(!s.update);
        assert_eq!(s.media.len(), 2);
        let a = &s.media[0];
        assert_eq!(
            (a.index, a.mid.as_str(), a.kind),
            (0, "0", MediaKind::Audio)
        );
        assert_eq!(a.direction, Direction::SendRecv);
        assert_eq!(a.codecs, vec!["opus", "pcmu"]);
        assert!(a.rids.is_empty());
        let v = &s.media[1];
        assert_eq!(
            (v.index, v.mid.as_str(), v.kind),
            (1, "1", MediaKind::Video)
        );
        assert_eq!(v.direction, Direction::SendOnly);
        assert_eq!(v.codecs, vec!["vp8", "h264"]);
        assert_eq!(v.rids, vec!["h", "l"]);
        assert!(summarize(CHROME_LIKE, true).update);
    }

    /// Chromium's SSRC-signalled simulcast (no rids), with the audio-level extension.
    const SIM_LIKE: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:a\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=sendonly\r\n\
a=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
a=mid:v\r\n\
a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n\
a=sendonly\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 11 12\r\n\
a=ssrc-group:SIM 11 21 31\r\n\
a=ssrc-group:FID 21 22\r\n\
a=ssrc-group:FID 31 32\r\n\
a=ssrc:11 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
a=mid:bad\r\n\
a=ssrc-group:SIM 1 two 3\r\n\
a=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn summary_reports_audio_level_and_ssrc_simulcast() {
        let s = summarize(SIM_LIKE, false);
        assert!(s.media[0].audio_level);
        assert_eq!(s.media[0].simulcast_layers, 0);
        assert!(s.media[1].audio_level);
        assert_eq!(s.media[1].simulcast_layers, 3);
        assert!(s.media[1].rids.is_empty());
        assert!(!s.media[2].audio_level);
        assert_eq!(s.media[2].simulcast_layers, 0);
        // RIDs count as layers too; no extmap means no audio level.
        let c = summarize(CHROME_LIKE, false);
        assert_eq!(c.media[1].simulcast_layers, 2);
        assert!(!c.media[0].audio_level);
        assert_eq!(
            simulcast_ssrcs(SIM_LIKE),
            vec![("v".to_string(), vec![11, 21, 31])]
        );
        assert!(simulcast_ssrcs(CHROME_LIKE).is_empty());
    }

    #[test]
    fn first_mid_includes_data_lines() {
        assert_eq!(first_mid(CHROME_LIKE).as_deref(), Some("0"));
        let data_first = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\nm=audio 9 X 0\r\na=mid:a\r\n";
        assert_eq!(first_mid(data_first).as_deref(), Some("d"));
        assert_eq!(first_mid("v=0\r\n"), None);
        assert_eq!(application_mid(data_first).as_deref(), Some("d"));
        assert_eq!(application_mid(CHROME_LIKE).as_deref(), Some("2"));
        assert_eq!(application_mid("v=0\r\nm=audio 9 X 0\r\na=mid:a\r\n"), None);
        assert_eq!(application_mid("garbage"), None);
    }

    #[test]
    fn summary_of_rejected_line_is_inactive() {
        let sdp = CHROME_LIKE.replace("m=audio 9", "m=audio 0");
        assert_eq!(
            summarize(&sdp, false).media[0].direction,
            Direction::Inactive
        );
    }

    #[test]
    fn invalid_sdp_is_rejected() {
        assert!(matches!(
            parse_offer("hello"),
            Err(MediaError::InvalidSdp(_))
        ));
        assert!(matches!(parse_offer(""), Err(MediaError::InvalidSdp(_))));
        assert!(matches!(
            parse_offer("v=0\r\nm=nonsense\r\n"),
            Err(MediaError::InvalidSdp(_))
        ));
    }

    #[test]
    fn shaping_rejects_sets_direction_and_codec() {
        let spec = AnswerSpec {
            media: vec![
                MediaAnswer {
                    mid: "0".into(),
                    accept: false,
                    direction: Direction::SendRecv,
                    codec: None,
                },
                MediaAnswer {
                    mid: "1".into(),
                    accept: true,
                    direction: Direction::SendRecv,
                    codec: Some("h264".into()),
                },
            ],
            data_channels: true,
        };
        let out = shape_offer(CHROME_LIKE, &spec);
        assert!(out.contains("m=audio 0 UDP/TLS/RTP/SAVPF 111 0\r\n"));
        assert!(out.contains("a=group:BUNDLE 1 2\r\n"));
        // Client sends only: we can only receive, so the offer stays sendonly.
        assert!(out.contains("a=mid:1\r\na=sendonly\r\n"));
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\n"));
        assert!(!out.contains("VP8"));
        assert!(!out.contains("apt=96"));
        assert!(out.contains("a=fmtp:103 apt=102"));
        assert!(out.contains("m=application 9"));
    }

    #[test]
    fn shaping_direction_and_data_rejection() {
        let spec = AnswerSpec {
            media: vec![MediaAnswer {
                mid: "0".into(),
                accept: true,
                direction: Direction::SendOnly,
                codec: Some("nonexistent".into()),
            }],
            data_channels: false,
        };
        let out = shape_offer(CHROME_LIKE, &spec);
        // We only send → the client must only receive.
        assert!(out.contains("a=mid:0\r\na=recvonly\r\n"));
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"));
        assert!(out.contains("m=application 0 "));
        assert!(out.contains("a=group:BUNDLE 0 1\r\n"));
    }

    #[test]
    fn shaped_offer_still_parses() {
        let spec = AnswerSpec {
            media: vec![MediaAnswer {
                mid: "1".into(),
                accept: true,
                direction: Direction::RecvOnly,
                codec: Some("vp8".into()),
            }],
            data_channels: true,
        };
        let out = shape_offer(CHROME_LIKE, &spec);
        assert!(out.contains("a=mid:1\r\na=sendonly\r\n"));
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"));
    }

    #[test]
    fn end_of_candidates_follows_last_candidate() {
        let sdp = "v=0\r\nm=audio 9 X 0\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5 typ host\r\na=candidate:2 1 udp 1 127.0.0.1 6 typ host\r\na=sendrecv\r\nm=video 9 X 96\r\na=mid:1\r\n";
        let out = add_end_of_candidates(sdp);
        assert!(out.contains("6 typ host\r\na=end-of-candidates\r\na=sendrecv"));
        assert_eq!(out.matches("a=end-of-candidates").count(), 1);
        assert_eq!(add_end_of_candidates(&out), out);
    }

    #[test]
    fn candidate_lines() {
        let c = parse_candidate("candidate:1 1 udp 2113929471 127.0.0.1 5000 typ host").unwrap();
        assert_eq!(c.addr(), "127.0.0.1:5000".parse().unwrap());
        let c = parse_candidate("a=candidate:1 1 UDP 2113929471 10.0.0.1 6000 typ host\r\n");
        assert!(c.is_ok());
        for bad in [
            "",
            "candidate:",
            "foo",
            "candidate:1 1 udp nonsense 127.0.0.1 5000 typ host",
            "candidate:1 1 udp 1 999.0.0.1 5000 typ host",
        ] {
            assert!(
                matches!(parse_candidate(bad), Err(MediaError::InvalidCandidate(_))),
                "{bad:?}"
            );
        }
    }
}
