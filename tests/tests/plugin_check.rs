//! `synchost plugin check` (issue 13): the conformance suite, run by the
//! real binary against the items fake. The example plugin passes every
//! rule; the hostile plugin's attacks each fail the rule they break, with
//! exit 1 and the rule named. Nothing is written to a store.

mod support;

use support::{
    assert_exit_code, assert_success, plugin_path, verdicts, FakeServer, Synchost, Workspace,
};

/// Runs `plugin check` of `plugin` with `sets`, plus `extra` arguments.
fn check(ws: &Workspace, plugin: &str, sets: &[String], extra: &[&str]) -> std::process::Output {
    let mut command = Synchost::new(ws)
        .args(["plugin", "check"])
        .arg(plugin_path(plugin));
    for set in sets {
        command = command.arg("--set").arg(set);
    }
    command.args(extra).output()
}

/// The verdict line of `rule` in a text report.
fn line_of<'a>(stdout: &'a str, rule: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.split_whitespace().nth(2) == Some(&format!("{rule}:")[..]))
        .unwrap_or_else(|| panic!("no verdict for {rule}:\n{stdout}"))
}

#[test]
fn the_example_plugin_passes_every_rule() {
    let fake = FakeServer::start("items", &["--count", "20"]);
    let ws = Workspace::new();
    let sets = [format!("base_url={}", fake.url())];
    let out = check(&ws, "example-items", &sets, &["--json"]);
    let stdout = assert_success(&out);
    let expected: Vec<(String, String)> = [
        "manifest",
        "page-limit",
        "unique-ids",
        "cursors",
        "resume",
        "fetch",
        "unknown-id",
        "unknown-stream",
        "delta-subset",
    ]
    .iter()
    .map(|rule| (rule.to_string(), "pass".to_string()))
    .collect();
    assert_eq!(verdicts(&stdout), expected, "{stdout}");
    assert!(!ws.store_path().exists(), "no store is written");

    // The text report: one line per rule, numbered.
    let out = check(&ws, "example-items", &sets, &[]);
    let stdout = assert_success(&out);
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
    assert!(
        line_of(&stdout, "resume").starts_with("PASS 5 "),
        "{stdout}"
    );
    assert!(!ws.store_path().exists(), "no store is written");
}

/// Runs the hostile plugin's `attack` and returns the text report, after
/// checking the exit code is 1, that `rule` failed and the error names it.
fn fails_rule(attack: &str, rule: &str) -> String {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let sets = [
        format!("base_url={}", fake.url()),
        format!("attack={attack}"),
    ];
    let out = check(&ws, "hostile", &sets, &[]);
    let stderr = assert_exit_code(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        line_of(&stdout, rule).starts_with("FAIL "),
        "{attack} fails {rule}:\n{stdout}"
    );
    assert!(stderr.contains(rule), "the error names {rule}: {stderr}");
    assert!(!ws.store_path().exists(), "no store is written");
    stdout
}

#[test]
fn an_oversized_page_fails_the_page_limit_rule() {
    let stdout = fails_rule("oversized-page", "page-limit");
    assert!(
        line_of(&stdout, "page-limit").contains("page 1 returned 4 records"),
        "{stdout}"
    );
}

#[test]
fn a_repeated_cursor_fails_the_cursor_rule() {
    let stdout = fails_rule("repeated-cursor", "cursors");
    assert!(
        line_of(&stdout, "cursors").contains("`again` a second time"),
        "{stdout}"
    );
}

#[test]
fn version_drift_fails_the_fetch_rule() {
    let stdout = fails_rule("version-drift", "fetch");
    assert!(
        line_of(&stdout, "fetch").contains("`drift-1` listed at version `1`, fetched at `2`"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let ws = Workspace::new();
    let out = check(&ws, "example-items", &["base_url".to_string()], &[]);
    assert_exit_code(&out, 2);
    let out = check(
        &ws,
        "example-items",
        &["base_url=http://127.0.0.1:9".to_string()],
        &["--max-pages", "1"],
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("--max-pages"), "{stderr}");
}

/// A manifest the host refuses fails rule 1, and what the plugin wrote
/// (forged lines, escape sequences) reaches the report escaped: one line.
#[test]
fn a_refused_manifest_fails_the_manifest_rule_escaped() {
    let ws = Workspace::new();
    let sets = ["base_url=http://127.0.0.1:9".to_string()];
    let out = check(&ws, "hostile-manifest", &sets, &[]);
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("manifest"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.starts_with("FAIL 1 manifest: "), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        9,
        "one escaped line per rule:\n{stdout}"
    );
    assert!(
        line_of(&stdout, "delta-subset").starts_with("SKIP 9 "),
        "the other rules are skipped:\n{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
}
