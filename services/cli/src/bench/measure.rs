//! What the benchmark reads off the machine: CPU time, resident memory, percentiles.

use std::path::Path;

use serde::Serialize;

/// CPU time this process has used so far, in seconds: the sum over its threads of the run time
/// the scheduler recorded (`/proc/self/task/*/schedstat`, nanoseconds), so work that DataFusion
/// spreads over threads is counted once per core it used.
pub fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// Resident memory of a process, in MiB: now (`VmRSS`) and its peak so far (`VmHWM`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    pub now_mib: f64,
    pub peak_mib: f64,
}

pub fn rss_of(pid: u32) -> Option<Rss> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some(Rss {
        now_mib: field("VmRSS:")?,
        peak_mib: field("VmHWM:")?,
    })
}

/// p50, p95 and p99 of samples in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut samples_ms: Vec<f64>) -> Percentiles {
        if samples_ms.is_empty() {
            return Percentiles::default();
        }
        samples_ms.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let at = ((q * samples_ms.len() as f64).ceil() as usize).clamp(1, samples_ms.len());
            samples_ms[at - 1]
        };
        Percentiles {
            samples: samples_ms.len(),
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            p99_ms: rank(0.99),
            max_ms: samples_ms[samples_ms.len() - 1],
        }
    }
}

/// The machine a run was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// The build profile of this binary: figures from a debug build are not comparable.
    pub profile: &'static str,
}

impl Machine {
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".to_string(), |s| s.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib,
            kernel,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let rss = rss_of(std::process::id()).unwrap();
        assert!(rss.now_mib > 0.0 && rss.peak_mib >= rss.now_mib);
        let before = cpu_seconds();
        // Spin for 50 ms of wall time: that is CPU time on this thread.
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(spin);
        }
        assert!(cpu_seconds() > before);
    }
}
