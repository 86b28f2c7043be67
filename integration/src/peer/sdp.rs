//! SDP text edits the test peer makes to look like a browser: candidates left for trickle,
//! and Chromium's SSRC-group simulcast instead of RIDs.

use str0m::media::MediaKind;

use super::state::MediaLine;

/// The first `a=mid:` of an SDP (the BUNDLE tag Janus trickles against).
pub fn first_mid(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
}

/// The audio/video m-lines of an SDP with their mids, in order.
pub fn offered_media(sdp: &str) -> Vec<MediaLine> {
    let mut out = Vec::new();
    let mut kind = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            kind = if m.starts_with("audio ") {
                Some(MediaKind::Audio)
            } else if m.starts_with("video ") {
                Some(MediaKind::Video)
            } else {
                None
            };
        } else if let (Some(k), Some(mid)) = (kind, line.strip_prefix("a=mid:")) {
            out.push(MediaLine {
                mid: mid.to_string(),
                kind: k,
            });
            kind = None;
        }
    }
    out
}

/// Removes candidate lines so the remote must learn them by trickle, as with a browser offer.
pub fn strip_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

/// Turns RID simulcast on m-line `mid` into SSRC simulcast as older Chromium (and Janus's
/// "SSRC-based" simulcast) signals it: no `a=rid`/`a=simulcast`, no RID header extensions,
/// and an `a=ssrc-group:SIM` listing the layers' SSRCs lowest first. The RID layers are
/// listed highest first (janus.js `h;m;l`), each with its `a=ssrc-group:FID main rtx` (or a
/// lone `a=ssrc`), so the SIM order is the reverse of the SSRCs' order. Returns the edited
/// SDP and the SIM SSRCs (lowest layer first).
pub fn rid_to_ssrc_simulcast(sdp: &str, mid: &str) -> (String, Vec<u32>) {
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(s) = sections.last_mut() {
            s.push(line);
        }
    }
    let mut sim = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let is_target = i > 0
            && section
                .iter()
                .any(|l| l.trim_end().strip_prefix("a=mid:") == Some(mid));
        if !is_target {
            section.iter().for_each(|l| out.push_str(l));
            continue;
        }
        // Main SSRCs in order: the first of each FID group, or each distinct a=ssrc.
        let fid: Vec<u32> = section
            .iter()
            .filter_map(|l| l.trim_end().strip_prefix("a=ssrc-group:FID "))
            .filter_map(|g| g.split_whitespace().next()?.parse().ok())
            .collect();
        let mains: Vec<u32> = if fid.is_empty() {
            let mut v: Vec<u32> = Vec::new();
            for s in section
                .iter()
                .filter_map(|l| l.strip_prefix("a=ssrc:"))
                .filter_map(|r| r.split_whitespace().next()?.parse().ok())
            {
                if !v.contains(&s) {
                    v.push(s);
                }
            }
            v
        } else {
            fid
        };
        sim = mains.iter().rev().copied().collect();
        for l in section {
            let t = l.trim_end();
            let rid_ext = t.starts_with("a=extmap:") && t.contains("rtp-stream-id");
            if t.starts_with("a=rid:") || t.starts_with("a=simulcast:") || rid_ext {
                continue;
            }
            out.push_str(l);
        }
        if sim.len() > 1 {
            let list: Vec<String> = sim.iter().map(u32::to_string).collect();
            out.push_str(&format!("a=ssrc-group:SIM {}\r\n", list.join(" ")));
        }
    }
    (out, sim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_candidates_and_finds_mid() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\nm=video 9 x 96\r\na=mid:1\r\n";
        let s = strip_candidates(sdp);
        assert!(!s.contains("candidate"));
        assert!(s.contains("a=mid:1\r\n"));
        assert_eq!(first_mid(sdp), Some("0"));
    }

    #[test]
    fn lists_offered_media_lines() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\nm=video 9 x 96\r\na=mid:v1\r\n";
        let media = offered_media(sdp);
        assert_eq!(
            media,
            vec![
                MediaLine {
                    mid: "a0".into(),
                    kind: MediaKind::Audio
                },
                MediaLine {
                    mid: "v1".into(),
                    kind: MediaKind::Video
                },
            ]
        );
    }

    #[test]
    fn rid_simulcast_becomes_sim_group_lowest_first() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\na=ssrc:5 cname:x\r\n\
m=video 9 X 96 97\r\na=mid:1\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n\
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n\
a=ssrc:10 cname:x\r\na=ssrc:11 cname:x\r\na=ssrc:20 cname:x\r\na=ssrc:21 cname:x\r\na=ssrc:30 cname:x\r\na=ssrc:31 cname:x\r\n\
a=ssrc-group:FID 10 11\r\na=ssrc-group:FID 20 21\r\na=ssrc-group:FID 30 31\r\n";
        let (out, sim) = rid_to_ssrc_simulcast(sdp, "1");
        assert_eq!(sim, vec![30, 20, 10]);
        assert!(out.ends_with("a=ssrc-group:SIM 30 20 10\r\n"));
        assert!(!out.contains("a=rid:") && !out.contains("a=simulcast"));
        assert!(!out.contains("rtp-stream-id"));
        assert!(out.contains("sdes:mid") && out.contains("a=ssrc:5 cname:x"));
    }
}
