//! `cargo xtask bench --otel [--count N] [--latency-ms L] [--runs K]`: the
//! cost of OpenTelemetry export. A pull of N items (default 10,000) from the
//! items fake (answering after L ms, default 0: the worst case, where a
//! request costs little more than its span), without export and then with
//! traces and metrics exported over
//! OTLP/HTTP (protobuf, the default protocol) to a local receiver that
//! accepts and discards them; runs alternate so both see the same machine.
//! Prints the median wall time of each (K runs each, default 5) and the
//! overhead; the target is under 5%. Each run must store every item, and
//! the exporting runs must have sent something: the bench fails otherwise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};

use super::{flag_value, median, pull_command, summary_of};
use crate::Fake;

pub fn run(work: &Path, args: &[String], runs: usize) -> Result<()> {
    let count: u64 = flag_value(args, "--count")?.unwrap_or(10_000);
    let runs = if flag_value::<usize>(args, "--runs")?.is_some() {
        runs
    } else {
        5
    };
    let latency_ms: u64 = flag_value(args, "--latency-ms")?.unwrap_or(0);
    let fake = Fake::start(&[
        "items",
        "--count",
        &count.to_string(),
        "--latency-ms",
        &latency_ms.to_string(),
    ])?;
    let sink = Sink::start()?;
    let endpoint = format!("http://127.0.0.1:{}", sink.port);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for run in 0..runs {
        off.push(timed_pull(
            &fake,
            &work.join(format!("otel-off-{run}")),
            None,
            count,
        )?);
        let before = sink.bytes.load(Ordering::Relaxed);
        on.push(timed_pull(
            &fake,
            &work.join(format!("otel-on-{run}")),
            Some(&endpoint),
            count,
        )?);
        ensure!(
            sink.bytes.load(Ordering::Relaxed) > before,
            "the pull with export sent nothing to the receiver"
        );
    }
    let (off, on) = (median(&mut off), median(&mut on));
    println!("| {count}-item pull, {latency_ms} ms latency | wall (median of {runs}) |");
    println!("|---|---|");
    println!("| OpenTelemetry off | {off:.2} s |");
    println!("| traces and metrics exported (OTLP/HTTP protobuf, local receiver) | {on:.2} s |");
    println!(
        "| overhead | {:+.1}% (target under 5%) |",
        (on / off - 1.0) * 100.0
    );
    println!(
        "\nThe receiver got {} requests, {} KiB in all.",
        sink.requests.load(Ordering::Relaxed),
        sink.bytes.load(Ordering::Relaxed) >> 10
    );
    Ok(())
}

/// One full pull into a fresh store in `dir`, exporting to `endpoint` if
/// given (otherwise with every OpenTelemetry variable unset): its wall time
/// in seconds.
fn timed_pull(fake: &Fake, dir: &Path, endpoint: Option<&str>, count: u64) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let mut command = pull_command(fake, dir);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("OTEL_")) {
        command.env_remove(key);
    }
    if let Some(endpoint) = endpoint {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let started = Instant::now();
    let output = command.stderr(Stdio::inherit()).output()?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(output.status.success(), "pull failed: {}", output.status);
    let summary = summary_of(&String::from_utf8_lossy(&output.stdout))?;
    let written = summary["summary"]["counts"]["written"].as_u64();
    ensure!(
        written == Some(count),
        "the pull wrote {written:?} of {count} items"
    );
    Ok(wall)
}

/// An OTLP/HTTP endpoint that answers `200 {}` to everything and keeps
/// only counts.
struct Sink {
    port: u16,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Sink {
    fn start() -> Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let sink = Sink {
            port: listener.local_addr()?.port(),
            requests: Arc::default(),
            bytes: Arc::default(),
        };
        let (requests, bytes) = (sink.requests.clone(), sink.bytes.clone());
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let (requests, bytes) = (requests.clone(), bytes.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&connection);
                    while let Some(size) = answer_one(&mut reader) {
                        requests.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(size, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(sink)
    }
}

/// Reads one request from a connection and answers it; the size of its
/// body, or `None` once the connection is closed or broken.
fn answer_one(reader: &mut BufReader<&TcpStream>) -> Option<u64> {
    let mut length = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
    }
    std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink()).ok()?;
    let mut connection = *reader.get_ref();
    connection
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )
        .ok()?;
    Some(length)
}
