//! CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Failures reading `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Parse { path: PathBuf, what: String },
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// When it was read.
    pub at: Instant,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
    /// Resident set size now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size since the process started, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// What a process used between two samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcUsage {
    /// Wall-clock time between the two samples, seconds.
    pub wall_s: f64,
    pub cpu_s: f64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub peak_rss_kib: u64,
}

impl ProcUsage {
    pub fn between(start: &ProcSample, end: &ProcSample) -> Self {
        ProcUsage {
            wall_s: end.at.saturating_duration_since(start.at).as_secs_f64(),
            cpu_s: (end.cpu_s - start.cpu_s).max(0.0),
            rss_start_kib: start.rss_kib,
            rss_end_kib: end.rss_kib,
            peak_rss_kib: end.peak_rss_kib.max(start.peak_rss_kib),
        }
    }
}

impl ProcUsage {
    /// CPU time as a share of one core over the interval (0 for an empty interval).
    pub fn cpu_percent(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.cpu_s * 100.0 / self.wall_s
        } else {
            0.0
        }
    }
}

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// This process (`/proc/self`).
    Current,
    Other(u32),
}

impl Pid {
    fn dir(self) -> PathBuf {
        match self {
            Pid::Current => PathBuf::from("/proc/self"),
            Pid::Other(p) => PathBuf::from(format!("/proc/{p}")),
        }
    }
}

/// Reads CPU time and memory of `pid` now.
pub fn sample(pid: Pid) -> Result<ProcSample, ProcError> {
    let dir = pid.dir();
    let stat_path = dir.join("stat");
    let status_path = dir.join("status");
    let stat = read(&stat_path)?;
    let status = read(&status_path)?;
    let ticks = parse_stat_cpu_ticks(&stat).map_err(|what| ProcError::Parse {
        path: stat_path,
        what,
    })?;
    let (rss_kib, peak_rss_kib) = parse_status_rss(&status).map_err(|what| ProcError::Parse {
        path: status_path,
        what,
    })?;
    Ok(ProcSample {
        at: Instant::now(),
        cpu_s: ticks as f64 / clock_ticks_per_second() as f64,
        rss_kib,
        peak_rss_kib,
    })
}

fn read(path: &Path) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| ProcError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// `utime + stime` (fields 14 and 15) of a `stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from its last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Result<u64, String> {
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("no ')' after the command name")?;
    // After ')' come field 3 (state), 4, ...: utime is field 14, index 11 here.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize, name: &str| -> Result<u64, String> {
        fields
            .get(i)
            .ok_or_else(|| format!("no {name} field"))?
            .parse::<u64>()
            .map_err(|e| format!("{name}: {e}"))
    };
    Ok(field(11, "utime")? + field(12, "stime")?)
}

/// `VmRSS` and `VmHWM` (KiB) of a `status` file.
fn parse_status_rss(status: &str) -> Result<(u64, u64), String> {
    let value = |key: &str| -> Result<u64, String> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .ok_or_else(|| format!("no {key} line (a kernel thread or a zombie?)"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("{key} {line:?}: {e}"))
    };
    Ok((value("VmRSS:")?, value("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 8 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Ok(325));
    }

    #[test]
    fn rejects_bad_stat() {
        assert!(parse_stat_cpu_ticks("").is_err());
        assert!(parse_stat_cpu_ticks("1 (x) S 1 2").is_err());
        assert!(parse_stat_cpu_ticks("1 (x) S 1 2 3 4 5 6 7 8 9 x 10").is_err());
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tportunus\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t8\n";
        assert_eq!(parse_status_rss(status), Ok((40960, 51200)));
        assert!(parse_status_rss("Name:\tkthreadd\n").is_err());
        assert!(parse_status_rss("VmRSS:\tlots kB\nVmHWM:\t1 kB\n").is_err());
    }

    #[test]
    fn samples_this_process_and_reports_a_missing_one() {
        let s = sample(Pid::Current).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.peak_rss_kib >= s.rss_kib);
        assert!(s.cpu_s >= 0.0);
        let later = sample(Pid::Current).expect("own /proc entry");
        let u = ProcUsage::between(&s, &later);
        assert!(u.cpu_s >= 0.0 && u.peak_rss_kib >= u.rss_end_kib);
        assert!(u.wall_s >= 0.0 && u.cpu_percent() >= 0.0);
        // Pids are below 2^22 on Linux.
        assert!(matches!(
            sample(Pid::Other(u32::MAX)),
            Err(ProcError::Io { .. })
        ));
    }
}
