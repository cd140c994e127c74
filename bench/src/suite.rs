//! The measured scenarios and the interleaved runner: every repeat runs every scenario on
//! every variant in turn (A B C A B C …), so a slow minute of the machine hits all
//! variants alike; figures are medians over the repeats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::h2load::{self, Length, Load, Measured, Variant};
use crate::stats::median;

/// One kind of load on one gRPC method.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub key: &'static str,
    pub path: &'static str,
    pub body: PathBuf,
    pub load: Load,
    /// Payload bytes per request, for MiB/s (large-message scenarios).
    pub payload: Option<usize>,
}

/// How long each run is.
#[derive(Debug, Clone, Copy)]
pub struct Lengths {
    pub small: Length,
    pub large: Length,
}

impl Lengths {
    pub fn full() -> Self {
        Self {
            small: Length::Timed {
                warm_up: Duration::from_secs(1),
                measure: Duration::from_secs(3),
            },
            large: Length::Timed {
                warm_up: Duration::from_secs(1),
                measure: Duration::from_secs(4),
            },
        }
    }

    /// Just enough to prove every part works.
    pub fn smoke() -> Self {
        Self {
            small: Length::Requests(200),
            large: Length::Requests(4),
        }
    }
}

/// Latency at concurrency 1 and throughput at 16 and 64 (4 connections, as 4 client
/// processes with one channel each would make).
pub fn unary(path: &'static str, body: &Path, length: Length) -> Vec<Scenario> {
    [("c1", 1, 1), ("c16", 4, 4), ("c64", 4, 16)]
        .into_iter()
        .map(|(key, connections, streams)| Scenario {
            key,
            path,
            body: body.to_path_buf(),
            load: Load {
                connections,
                streams,
                length,
            },
            payload: None,
        })
        .collect()
}

/// One stream echoing large messages back to back.
pub fn large(
    path: &'static str,
    key: &'static str,
    body: &Path,
    size: usize,
    length: Length,
) -> Scenario {
    Scenario {
        key,
        path,
        body: body.to_path_buf(),
        load: Load {
            connections: 1,
            streams: 1,
            length,
        },
        payload: Some(size),
    }
}

/// Medians over repeats of one scenario on one variant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub requests_per_second: f64,
    pub mib_per_second: f64,
}

/// One run's measurement and the payload size of its scenario.
type Run = (Measured, Option<usize>);

/// Every run's measurement, by scenario key then variant name.
#[derive(Debug, Default)]
pub struct Results {
    runs: BTreeMap<(&'static str, &'static str), Vec<Run>>,
    pub variants: Vec<&'static str>,
}

impl Results {
    pub fn figures(&self, scenario: &'static str, variant: &'static str) -> Option<Figures> {
        let runs = self.runs.get(&(scenario, variant))?;
        let of = |f: &dyn Fn(&Measured, Option<usize>) -> f64| {
            median(runs.iter().map(|(m, p)| f(m, *p)))
        };
        Some(Figures {
            mean_us: of(&|m, _| m.mean_us()),
            p50_us: of(&|m, _| m.quantile_us(0.5)),
            p99_us: of(&|m, _| m.quantile_us(0.99)),
            p999_us: of(&|m, _| m.quantile_us(0.999)),
            requests_per_second: of(&|m, _| m.requests_per_second),
            mib_per_second: of(&|m, p| {
                p.map_or(f64::NAN, |p| {
                    m.requests_per_second * p as f64 / (1 << 20) as f64
                })
            }),
        })
    }
}

/// Runs `scenarios` × `variants`, `repeats` times, interleaved.
pub fn run(
    scenarios: &[Scenario],
    variants: &[Variant],
    repeats: u32,
    scratch: &Path,
) -> anyhow::Result<Results> {
    let mut results = Results {
        variants: variants.iter().map(|v| v.name).collect(),
        ..Results::default()
    };
    for repeat in 1..=repeats {
        for scenario in scenarios {
            for variant in variants {
                let measured = h2load::run(
                    variant,
                    scenario.path,
                    &scenario.body,
                    scenario.load,
                    scratch,
                )?;
                eprintln!(
                    "  [{repeat}/{repeats}] {:<6} {:<12} {:>9.0} req/s  mean {:>8.1} µs",
                    scenario.key,
                    variant.name,
                    measured.requests_per_second,
                    measured.mean_us()
                );
                results
                    .runs
                    .entry((scenario.key, variant.name))
                    .or_default()
                    .push((measured, scenario.payload));
            }
        }
    }
    Ok(results)
}
