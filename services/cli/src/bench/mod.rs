//! `lantern bench`: the performance harness. One run measures, over one SYNTHETIC stream
//! (`lantern gen`'s), every figure the Benchmark issue asks for, prints them next to their
//! targets and writes them as JSON so a later run can be compared with this one:
//!
//! - [`core`]: the core path without Kafka, events/s per core;
//! - [`e2e`]: end to end from the real broker to durable tables, against a bare consumer of the
//!   same topics, with the processor's peak memory at half and all of the stream;
//! - [`duckdb`]: DuckDB doing the same work on the same events as NDJSON;
//! - [`query`]: query latency over the end-to-end run's tables (and their totals, checked
//!   against what was generated);
//! - [`fresh`]: freshness at a steady offered load.
//!
//! The processor runs as a child process ([`processor`]), so its memory is its own.
//! `scripts/bench.sh` is the one documented command; `docs/performance.md` holds the figures.

mod core;
mod duckdb;
mod e2e;
mod fresh;
mod measure;
mod processor;
mod query;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use lantern_common::Config;
use lantern_enrich::ReferenceData;
use lantern_ingest::synthetic::stream::{Kind, Tally};
use serde::Serialize;

use crate::generate::{GenArgs, write_ndjson};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Events in the stream (all three kinds, with revisions, duplicates, late and invalid ones).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Random seed of the stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// police.uk CSVs whose shape the stream copies (default: data/sample/policeuk/*.csv).
    #[arg(long)]
    profile: Vec<PathBuf>,
    /// Offered load of the freshness phase, events/s.
    #[arg(long, default_value_t = 10_000)]
    fresh_rate: u64,
    /// Length of the freshness phase, seconds (the first 3 are a warm-up, not counted).
    #[arg(long, default_value_t = 30)]
    fresh_seconds: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 30)]
    query_runs: usize,
    /// A Python with duckdb installed (scripts/bench.sh makes one).
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Where the run's NDJSON, tables and state go (removed afterwards unless --keep).
    #[arg(long, default_value = ".lantern/bench")]
    work_dir: PathBuf,
    /// Keep the run's files.
    #[arg(long)]
    keep: bool,
    /// Where to write the figures as JSON (default: <work-dir>/<run>.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the core path only, print its figures and stop: for profiling it alone
    /// (`perf record -g lantern bench --core-only`). Needs no broker and writes no JSON.
    #[arg(long)]
    core_only: bool,
}

/// Every figure of one run.
#[derive(Debug, Serialize)]
struct Report {
    run: String,
    started_at: String,
    machine: measure::Machine,
    events: u64,
    seed: u64,
    /// What the stream held (SYNTHETIC).
    generated: Tally,
    core: core::CoreFigures,
    end_to_end: e2e::EndToEndFigures,
    duckdb: duckdb::DuckDbFigures,
    /// DuckDB's seconds over the core path's for the same incidents (above 1: Lantern faster).
    duckdb_over_lantern: f64,
    queries: query::QueryFigures,
    freshness: fresh::FreshnessFigures,
    targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
struct Target {
    name: &'static str,
    target: String,
    measured: String,
    met: bool,
}

pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    args: BenchArgs,
) -> anyhow::Result<()> {
    if args.events < 1_000 {
        bail!("--events: at least 1000, so every phase has something to measure");
    }
    let started_at = chrono::Utc::now();
    let run = format!("bench-{}", started_at.format("%Y%m%dT%H%M%S"));
    let work = args.work_dir.join(&run);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let machine = measure::Machine::this();
    println!(
        "lantern bench {run}: {} SYNTHETIC events (seed {}), {} build, {} × {} cores, {:.1} GiB",
        args.events, args.seed, machine.profile, machine.cpu, machine.cores, machine.memory_gib
    );
    let gen_args = GenArgs {
        events: args.events,
        seed: args.seed,
        start: "2023-01".into(),
        months: 24,
        profile: args.profile.clone(),
        ndjson: None,
        rate: None,
        tally: None,
    };
    let reference = Arc::new(
        ReferenceData::load(&config.pipelines.files(), &config.processor.force_area_code)
            .context("loading reference data")?,
    );

    println!("core path (decode → validate → enrich → state → aggregate deltas, no Kafka)…");
    let mut generator = gen_args.generator()?;
    let core = core::run(&mut generator, &reference, &work).await?;
    let generated = *generator.tally();
    if args.core_only {
        println!(
            "core path: {} events in {:.2} s CPU = {:.0} events/s per core",
            core.events, core.cpu_s, core.events_per_s_per_core
        );
        std::fs::remove_dir_all(&work).ok();
        return Ok(());
    }

    println!("DuckDB on the same events as NDJSON…");
    let ndjson = work.join("ndjson");
    write_ndjson(&ndjson, &mut gen_args.generator()?)?;
    let lookup = work.join("lsoa_lad.csv");
    duckdb::write_lookup(
        &lookup,
        &crate::generate::load_profile(&args.profile)?,
        &reference,
    )?;
    let duckdb = duckdb::run(
        &args.python,
        &ndjson.join(format!("{}.ndjson", Kind::Incidents.pipeline())),
        &lookup,
    )?;
    std::fs::remove_dir_all(&ndjson).ok();

    println!(
        "end to end through Kafka ({})…",
        config.kafka.bootstrap_servers
    );
    let setup = processor::Setup::new(&format!("{run}-e2e"), &work);
    let end_to_end = e2e::run(
        &config,
        config_path.as_deref(),
        &setup,
        &mut gen_args.generator()?,
    )
    .await?;

    println!("queries over the tables…");
    let queries = query::Queries::open(&config, &setup.data_dir)
        .measure(args.query_runs)
        .await?;
    check_totals(&generated, &queries.totals, &duckdb)?;

    println!(
        "freshness at {} events/s for {} s…",
        args.fresh_rate, args.fresh_seconds
    );
    let fresh_setup = processor::Setup::new(&format!("{run}-fresh"), &work);
    // A live feed's shape: event time moves with the clock, so the load falls in the current
    // month (plus the late events' earlier months). Spread over the backfill's 24 months, every
    // 30 s batch rewrote every month, the backfill's worst case, not a live one.
    let fresh_generator = GenArgs {
        events: args.fresh_rate * args.fresh_seconds,
        seed: args.seed + 1,
        months: 1,
        ..gen_args.clone()
    }
    .generator()?;
    let freshness = fresh::run(
        &config,
        config_path.as_deref(),
        &fresh_setup,
        fresh_generator,
        args.fresh_rate,
        args.fresh_seconds,
    )
    .await?;

    let incidents_core_s = core.pipelines[Kind::Incidents.pipeline()].wall_s;
    let mut report = Report {
        run: run.clone(),
        started_at: started_at.to_rfc3339(),
        machine,
        events: args.events,
        seed: args.seed,
        generated,
        duckdb_over_lantern: duckdb.seconds / incidents_core_s.max(1e-9),
        core,
        end_to_end,
        duckdb,
        queries,
        freshness,
        targets: Vec::new(),
    };
    report.targets = targets(&report);
    print(&report);

    let json = args
        .json
        .clone()
        .unwrap_or_else(|| args.work_dir.join(format!("{run}.json")));
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!("figures written to {}", json.display());
    if !args.keep {
        std::fs::remove_dir_all(&work).ok();
    }
    Ok(())
}

/// The tables, DuckDB and the generator must agree on how many records are live: a benchmark of
/// a pipeline that loses or double-counts events would measure nothing.
fn check_totals(
    generated: &Tally,
    tables: &query::Totals,
    duckdb: &duckdb::DuckDbFigures,
) -> anyhow::Result<()> {
    let expected = [
        ("incidents", generated.incidents.live(), tables.incidents),
        (
            "business crime",
            generated.business_crime.live(),
            tables.business_crime,
        ),
        ("cybercrime", generated.cybercrime.live(), tables.cybercrime),
        (
            "incidents (DuckDB)",
            generated.incidents.live(),
            duckdb.total,
        ),
    ];
    for (what, generated, counted) in expected {
        if counted != generated as i64 {
            bail!("{what}: the stream holds {generated} live records but {counted} were counted");
        }
    }
    println!(
        "  check: the tables and DuckDB count exactly the stream's live records ({} incidents, {} business crimes, {} cybercrimes)",
        tables.incidents, tables.business_crime, tables.cybercrime
    );
    Ok(())
}

fn targets(r: &Report) -> Vec<Target> {
    let e = &r.end_to_end;
    let flat = e.peak_rss_growth_mib <= 0.1 * e.peak_rss_at_half_mib;
    vec![
        Target {
            name: "core path",
            target: "≥ 1,000,000 events/s per core".into(),
            measured: format!("{:.0} events/s per core", r.core.events_per_s_per_core),
            met: r.core.events_per_s_per_core >= 1e6,
        },
        Target {
            name: "end to end",
            target: "≥ 80% of a bare consumer".into(),
            measured: format!(
                "{:.0} vs {:.0} events/s = {:.0}%",
                e.lantern_events_per_s,
                e.bare_consumer_events_per_s,
                e.ratio_to_bare_consumer * 100.0
            ),
            met: e.ratio_to_bare_consumer >= 0.8,
        },
        Target {
            name: "freshness",
            target: "p99 < 2,000 ms at 10,000 events/s offered".into(),
            measured: format!(
                "p50 {:.0} ms, p99 {:.0} ms at {} events/s",
                r.freshness.latency.p50_ms,
                r.freshness.latency.p99_ms,
                r.freshness.offered_events_per_s
            ),
            met: r.freshness.latency.p99_ms < 2000.0 && r.freshness.offered_events_per_s >= 10_000,
        },
        Target {
            name: "queries",
            target: "p95 < 50 ms".into(),
            measured: format!(
                "p50 {:.1} ms, p95 {:.1} ms ({} queries × {} runs)",
                r.queries.all.p50_ms,
                r.queries.all.p95_ms,
                r.queries.by_query.len(),
                r.queries.runs_per_query
            ),
            met: r.queries.all.p95_ms < 50.0,
        },
        Target {
            name: "memory",
            target: "peak < 1,024 MiB, flat from N/2 to N".into(),
            measured: format!(
                "peak {:.0} MiB; {:.0} MiB at N/2, +{:.0} MiB to N",
                e.peak_rss_mib, e.peak_rss_at_half_mib, e.peak_rss_growth_mib
            ),
            met: e.peak_rss_mib < 1024.0 && flat,
        },
        Target {
            name: "vs DuckDB",
            target: "faster than DuckDB on the same work".into(),
            measured: format!(
                "DuckDB {:.2} s ({} threads), Lantern core path {:.2} s (1 thread): ×{:.2}",
                r.duckdb.seconds,
                r.duckdb.threads,
                r.core.pipelines[Kind::Incidents.pipeline()].wall_s,
                r.duckdb_over_lantern
            ),
            met: r.duckdb_over_lantern > 1.0,
        },
    ]
}

fn print(r: &Report) {
    println!();
    println!(
        "{:<12} {:<44} {:<42} result",
        "figure", "measured", "target"
    );
    for t in &r.targets {
        println!(
            "{:<12} {:<44} {:<42} {}",
            t.name,
            t.measured,
            t.target,
            if t.met { "met" } else { "NOT MET" }
        );
    }
    println!("queries, p50 / p95 ms:");
    for (name, p) in &r.queries.by_query {
        println!("  {name:<34} {:>7.1} {:>7.1}", p.p50_ms, p.p95_ms);
    }
    let c = &r.core;
    println!(
        "core path by pipeline (events, wall s, CPU s): {}",
        c.pipelines
            .iter()
            .map(|(name, p)| format!("{name} {} / {:.2} / {:.2}", p.events, p.wall_s, p.cpu_s))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if r.machine.profile == "debug" {
        println!("NOTE: a debug build — these figures are a smoke test, not a measurement.");
    }
}
