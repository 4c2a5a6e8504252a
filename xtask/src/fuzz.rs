//! `cargo xtask fuzz [--seconds N] [TARGET...]`: builds the fuzz targets in
//! `fuzz/` with libFuzzer's coverage instrumentation and runs each for a
//! budget, then prints what each did.
//!
//! It does what `cargo fuzz run` does, on the stable toolchain and without
//! installing anything: the sanitizer-coverage passes are stable `-C` flags;
//! only AddressSanitizer would need nightly, and the code under test is safe
//! Rust. The build has its own target directory (`target/fuzz`), since the
//! instrumented flags would otherwise rebuild the regular one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{root, run_command, target_dir};

/// The flags `cargo fuzz` passes, minus the sanitizer.
const COVERAGE_FLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing";

/// What one target did in its budget.
struct Outcome {
    target: String,
    runs: String,
    coverage: String,
    corpus: usize,
    crash: Option<PathBuf>,
}

pub fn run(args: &[String]) -> Result<()> {
    let targets = targets()?;
    let mut seconds = 60u64;
    let mut chosen = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--seconds needs a number")?
            }
            name => match targets.iter().find(|t| *t == name) {
                Some(target) => chosen.push(target.clone()),
                None => bail!(
                    "unknown fuzz target `{name}` (targets: {})",
                    targets.join(", ")
                ),
            },
        }
    }
    if chosen.is_empty() {
        chosen = targets;
    }

    let fuzz_dir = target_dir().join("fuzz");
    let triple = host_triple()?;
    eprintln!("building the fuzz targets with coverage instrumentation ({triple})");
    run_command(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root())
            .args(["build", "--profile", "fuzz", "-p", "synchost-fuzz"])
            .args(["--features", "libfuzzer", "--bins", "--target", &triple])
            .env("CARGO_TARGET_DIR", &fuzz_dir)
            .env("RUSTFLAGS", COVERAGE_FLAGS),
    )?;

    let bin_dir = fuzz_dir.join(&triple).join("fuzz");
    let mut outcomes = Vec::new();
    for target in &chosen {
        eprintln!("fuzzing {target} for {seconds} s");
        outcomes.push(fuzz_one(&bin_dir, &fuzz_dir, target, seconds)?);
    }

    println!("\n| target | runs | coverage | corpus | result |");
    println!("|---|---|---|---|---|");
    for o in &outcomes {
        let result = match &o.crash {
            Some(path) => format!("FAILED: {}", path.display()),
            None => "ok".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {result} |",
            o.target, o.runs, o.coverage, o.corpus
        );
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| o.crash.is_some()).collect();
    if !failed.is_empty() {
        bail!(
            "{} target(s) found a failing input. Reproduce with `{} <input>`; after the fix, \
             copy the input into fuzz/regressions/<target>/ so the regression tests keep it",
            failed.len(),
            bin_dir.join("<target>").display()
        );
    }
    Ok(())
}

/// Runs one target for `seconds`, growing its corpus in `target/fuzz/corpus`
/// from the saved inputs in `fuzz/regressions`.
fn fuzz_one(bin_dir: &Path, fuzz_dir: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let corpus = fuzz_dir.join("corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(&artifacts)?;
    let started = Instant::now();
    let output = Command::new(bin_dir.join(target))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-max_len=65536")
        // An input that runs this long is a hang, saved like a crash.
        .arg("-timeout=20")
        .arg("-print_final_stats=1")
        .arg(&corpus)
        .arg(root().join("fuzz/regressions").join(target))
        .output()
        .with_context(|| format!("cannot run the {target} fuzzer"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    std::fs::write(fuzz_dir.join(format!("{target}.log")), log.as_bytes())?;
    let stat = |name: &str| {
        log.lines()
            .find_map(|line| line.strip_prefix(name))
            .map_or("?".to_string(), |value| value.trim().to_string())
    };
    // The last status line, e.g. `#123456 DONE cov: 812 ft: 2301 corp: 140/9Kb ...`.
    let coverage = log
        .lines()
        .rev()
        .find_map(|line| line.split_once("cov: ").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let crash = log
        .lines()
        .find_map(|line| line.split_once("Test unit written to ").map(|(_, p)| p))
        .map(|path| PathBuf::from(path.trim()));
    if crash.is_none() && !output.status.success() {
        bail!(
            "the {target} fuzzer failed without saving an input ({}); see {}",
            output.status,
            fuzz_dir.join(format!("{target}.log")).display()
        );
    }
    let corpus_size = std::fs::read_dir(&corpus)?.count();
    eprintln!(
        "  {target}: {} runs in {:.0} s",
        stat("stat::number_of_executed_units:"),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome {
        target: target.to_string(),
        runs: stat("stat::number_of_executed_units:"),
        coverage,
        corpus: corpus_size,
        crash,
    })
}

/// The targets: one file each in `fuzz/fuzz_targets/`, in name order.
fn targets() -> Result<Vec<String>> {
    let dir = root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn host_triple() -> Result<String> {
    let output = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}
