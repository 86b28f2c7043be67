//! An SVG of CPU per forwarded packet and loss against N for both servers, written by hand
//! (two panels, shared N axis, one polyline per server).

use std::fmt::Write as _;

/// One server's series: (N, value) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

const W: f64 = 720.0;
const PANEL_H: f64 = 240.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 70.0;

/// Two panels: `top` and `bottom`, each with its title and y label.
pub fn svg(title: &str, top: (&str, &[Series<'_>]), bottom: (&str, &[Series<'_>])) -> String {
    let height = TOP + 2.0 * PANEL_H + GAP + 50.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let all_n: Vec<f64> = top
        .1
        .iter()
        .chain(bottom.1)
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let n_max = all_n.iter().copied().fold(1.0, f64::max);
    panel(&mut o, TOP, top.0, top.1, n_max);
    panel(&mut o, TOP + PANEL_H + GAP, bottom.0, bottom.1, n_max);
    // Legend.
    let names: Vec<&Series<'_>> = top.1.iter().collect();
    for (i, s) in names.iter().enumerate() {
        let x = LEFT + 10.0 + i as f64 * 140.0;
        let y = height - 15.0;
        let _ = writeln!(
            o,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 25.0,
            s.color,
            x + 30.0,
            y + 4.0,
            escape(s.name)
        );
    }
    o.push_str("</svg>\n");
    o
}

fn panel(o: &mut String, y0: f64, label: &str, series: &[Series<'_>], n_max: f64) {
    let plot_w = W - LEFT - RIGHT;
    let v_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let v_max = nice_ceiling(v_max);
    let x = |n: f64| LEFT + n / n_max * plot_w;
    let y = |v: f64| y0 + PANEL_H - (v / v_max).clamp(0.0, 1.0) * PANEL_H;
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL_H}" fill="none" stroke="#888"/>"##
    );
    for i in 0..=4 {
        let v = v_max * f64::from(i) / 4.0;
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{yy}" x2="{}" y2="{yy}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 5.0,
            y(v) + 4.0,
            short(v),
            yy = y(v)
        );
    }
    let ticks: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    for n in ticks {
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(n),
            y0 + PANEL_H + 15.0,
            n
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">subscribers (N)</text>"#,
        LEFT + plot_w / 2.0,
        y0 + PANEL_H + 32.0
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        y0 - 6.0,
        escape(label)
    );
    for s in series {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|(n, v)| format!("{:.1},{:.1}", x(*n), y(*v)))
            .collect();
        let _ = writeln!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            pts.join(" "),
            s.color
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                o,
                r#"<circle cx="{px}" cy="{py}" r="3" fill="{}"/>"#,
                s.color
            );
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `v` (1 for nothing to show).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_panels_and_series() {
        let cpu = [
            Series {
                name: "portunus",
                color: "#c0392b",
                points: vec![(1.0, 10.0), (10.0, 12.0)],
            },
            Series {
                name: "janus",
                color: "#2c3e50",
                points: vec![(1.0, 30.0), (10.0, f64::NAN)],
            },
        ];
        let loss = [
            Series {
                name: "portunus",
                color: "#c0392b",
                points: vec![(1.0, 0.0), (10.0, 0.1)],
            },
            Series {
                name: "janus",
                color: "#2c3e50",
                points: vec![(1.0, 0.0), (10.0, 4.0)],
            },
        ];
        let s = svg(
            "a < b",
            ("CPU µs per forwarded packet", &cpu),
            ("loss %", &loss),
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 4);
        assert!(s.contains("a &lt; b"));
        assert!(!s.contains("NaN"));
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
    }
}
