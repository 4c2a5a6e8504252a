//! `synchost plugin check` (issue 13): the conformance suite, run by the
//! real binary against the items fake. The example plugin passes every
//! rule; the hostile plugin's attacks each fail the rule they break, with
//! exit 1 and the rule named. Nothing is written to a store. A check
//! recorded with `--record` replays with `--fixtures` and no network.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{
    assert_exit_code, assert_success, plugin_path, verdicts, FakeServer, Synchost, Workspace,
};

/// Every rule, in order.
const RULES: [&str; 12] = [
    "manifest",
    "describe-io",
    "page-limit",
    "unique-ids",
    "cursors",
    "resume",
    "fetch",
    "ids-only",
    "unknown-id",
    "unknown-stream",
    "delta-subset",
    "push-outcomes",
];

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
    // Pushing needs --allow-writes.
    let expected = all_pass_but(&[("push-outcomes", "skip")]);
    assert_eq!(verdicts(&stdout), expected, "{stdout}");
    assert!(!ws.store_path().exists(), "no store is written");

    // The text report: one line per rule, numbered.
    let out = check(&ws, "example-items", &sets, &[]);
    let stdout = assert_success(&out);
    assert_eq!(stdout.lines().count(), 12, "{stdout}");
    assert!(
        line_of(&stdout, "resume").starts_with("PASS 6 "),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, "push-outcomes").contains("give --allow-writes"),
        "{stdout}"
    );
    assert!(!ws.store_path().exists(), "no store is written");
}

/// `(rule, verdict)` of every rule: `pass` but for `others`.
fn all_pass_but(others: &[(&str, &str)]) -> Vec<(String, String)> {
    RULES
        .iter()
        .map(|rule| {
            let verdict = others
                .iter()
                .find(|(other, _)| other == rule)
                .map_or("pass", |(_, verdict)| verdict);
            (rule.to_string(), verdict.to_string())
        })
        .collect()
}

/// With --allow-writes the push rule sends updates with a stale base
/// version: the example plugin answers conflicts (the fake's 412), and the
/// fake's items are as they were.
#[test]
fn a_stale_push_is_a_conflict_that_changes_nothing() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let before = fake.ground_truth();
    let ws = Workspace::new();
    let sets = [format!("base_url={}", fake.url())];
    let out = check(&ws, "example-items", &sets, &["--allow-writes"]);
    let stdout = assert_success(&out);
    assert!(
        line_of(&stdout, "push-outcomes")
            .starts_with("PASS 12 push-outcomes: push of 2 update(s) based on version"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, "push-outcomes").ends_with("2 conflict(s), nothing changed"),
        "{stdout}"
    );
    assert_eq!(fake.ground_truth(), before, "the remote is unchanged");
}

/// Runs the hostile plugin's `attack` (with `extra` arguments) and returns
/// the text report, after checking the exit code is 1, that `rule` failed
/// and the error names it.
fn fails_rule(attack: &str, rule: &str) -> String {
    fails_rule_with(attack, rule, &[])
}

fn fails_rule_with(attack: &str, rule: &str, extra: &[&str]) -> String {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let sets = [
        format!("base_url={}", fake.url()),
        format!("attack={attack}"),
    ];
    let out = check(&ws, "hostile", &sets, extra);
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
fn ids_only_drift_fails_the_ids_only_rule() {
    let stdout = fails_rule("ids-only-drift", "ids-only");
    assert!(
        line_of(&stdout, "ids-only").contains(
            "list(limit 3, ids-only) gave `drift-1` at version `0`, the full listing at `1`"
        ),
        "{stdout}"
    );
}

/// A push answered with fewer outcomes than changes fails the push rule,
/// which runs only with --allow-writes.
#[test]
fn missing_push_outcomes_fail_the_push_rule() {
    let stdout = fails_rule_with("push-fewer-outcomes", "push-outcomes", &["--allow-writes"]);
    assert!(
        line_of(&stdout, "push-outcomes").contains("answered push of 2 changes with 1 outcomes"),
        "{stdout}"
    );
}

/// A `describe` that sends requests (through the `http` import and through
/// `wasi:http`) fails the describe-io rule, which names both; they are
/// denied, never sent.
#[test]
fn a_describe_that_sends_fails_the_describe_io_rule() {
    let fake = FakeServer::start("items", &["--count", "3"]);
    let ws = Workspace::new();
    let sets = [format!("base_url={}", fake.url())];
    let out = check(&ws, "chatty-describe", &sets, &[]);
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("describe-io"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        line_of(&stdout, "describe-io"),
        "FAIL 2 describe-io: describe sent 2 request(s), all denied: \
         `GET http://describe.invalid/phone-home?from=describe`, \
         `wasi:http GET http://describe.invalid/wasi-http`",
        "{stdout}"
    );
    let out = check(&ws, "example-items", &sets, &[]);
    let stdout = assert_success(&out);
    assert!(
        line_of(&stdout, "describe-io").starts_with("PASS 2 describe-io: describe sent no request"),
        "{stdout}"
    );
}

/// The exchange files of the one source folder of cassette `dir`.
fn exchange_files(dir: &Path) -> Vec<PathBuf> {
    let source = dir.join("example-items");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&source)
        .unwrap_or_else(|e| panic!("{}: {e}", source.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

/// `plugin check --record` writes the cassette `--fixtures` needs: with the
/// fake stopped and its port listened on, the replay gives the same
/// verdicts and nothing connects. A recorded page whose second id repeats
/// the first then fails unique-ids, naming the id.
#[test]
fn a_recorded_check_replays_without_the_network() {
    let fake = FakeServer::start("items", &["--count", "5", "--seed", "3"]);
    let port = fake.port();
    let ws = Workspace::new();
    let cassette = ws.path().join("cassette");
    let sets = [format!("base_url={}", fake.url())];
    let record = ["--allow-writes", "--json", "--record"];
    let out = check(
        &ws,
        "example-items",
        &sets,
        &[&record[..], &[cassette.to_str().unwrap()]].concat(),
    );
    let live = verdicts(&assert_success(&out));
    assert_eq!(live, all_pass_but(&[]), "{live:?}");
    let files = exchange_files(&cassette);
    assert!(files.len() > 10, "{files:?}");
    drop(fake);

    // Whatever tried the network would knock here.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the fake's port");
    listener.set_nonblocking(true).unwrap();
    let replay = |ws: &Workspace| {
        check(
            ws,
            "example-items",
            &sets,
            &["--json", "--fixtures", cassette.to_str().unwrap()],
        )
    };
    let out = replay(&ws);
    assert_eq!(verdicts(&assert_success(&out)), live);
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "a request reached the network"
    );

    // Every recorded first page: the second item takes the first one's id.
    let first_page = format!("127.0.0.1:{port}/items?limit=3");
    let mut repeated = None;
    for file in &files {
        let mut exchange: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        if !exchange["url"].as_str().unwrap().ends_with(&first_page) {
            continue;
        }
        let mut body: Value = serde_json::from_str(exchange["body"].as_str().unwrap()).unwrap();
        let first = body["items"][0]["id"].clone();
        body["items"][1]["id"] = first.clone();
        exchange["body"] = Value::String(body.to_string());
        std::fs::write(file, exchange.to_string()).unwrap();
        repeated = Some(first.as_str().unwrap().to_owned());
    }
    let repeated = repeated.expect("a recorded first page");
    let out = check(
        &ws,
        "example-items",
        &sets,
        &["--fixtures", cassette.to_str().unwrap()],
    );
    let stderr = assert_exit_code(&out, 1);
    assert!(stderr.contains("unique-ids"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        line_of(&stdout, "unique-ids"),
        format!("FAIL 4 unique-ids: list page 1 repeats the id `{repeated}`"),
        "{stdout}"
    );

    // A request the check's own recording does not hold fails the rule
    // that sent it, naming the request.
    let unknown = files
        .iter()
        .find(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains("synchost-check-no-such-id")
        })
        .expect("the unknown-id fetch is recorded");
    std::fs::remove_file(unknown).unwrap();
    let out = check(
        &ws,
        "example-items",
        &sets,
        &["--fixtures", cassette.to_str().unwrap()],
    );
    assert_exit_code(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = format!(
        "FAIL 9 unknown-id: the plugin sent \
         `GET http://127.0.0.1:{port}/items/synchost-check-no-such-id-7f3a`, \
         which the check's recording does not hold"
    );
    assert!(
        line_of(&stdout, "unknown-id").starts_with(&expected),
        "{stdout}"
    );
}

/// A `pull --record` cassette replays too, at the page size it was pulled
/// with: the rules whose calls the pull never made say SKIP and why.
#[test]
fn a_pull_cassette_skips_what_it_did_not_record() {
    let fake = FakeServer::start("items", &["--count", "5"]);
    let ws = Workspace::new();
    let cassette = ws.path().join("pulled");
    let sets = [format!("base_url={}", fake.url())];
    let pull = Synchost::new(&ws)
        .args(["pull", "--page-size", "2", "--plugin"])
        .arg(plugin_path("example-items"))
        .arg("--set")
        .arg(&sets[0])
        .arg("--record")
        .arg(&cassette)
        .output();
    assert_success(&pull);
    drop(fake);
    let fixtures = ["--fixtures", cassette.to_str().unwrap()];
    let out = check(
        &ws,
        "example-items",
        &sets,
        &[&fixtures[..], &["--page-size", "2"]].concat(),
    );
    let stdout = assert_success(&out);
    // page-limit to ids-only: the pull's pages and fetches serve them.
    for rule in &RULES[2..8] {
        assert!(
            line_of(&stdout, rule).starts_with("PASS "),
            "{rule}:\n{stdout}"
        );
    }
    for rule in ["unknown-id", "delta-subset", "push-outcomes"] {
        assert!(
            line_of(&stdout, rule).contains("the cassette holds no answer to `"),
            "{rule}:\n{stdout}"
        );
    }
    assert!(
        line_of(&stdout, "unknown-id").contains("synchost-check-no-such-id"),
        "{stdout}"
    );
    // At the check's own page size the pull's pages are not in it.
    let out = check(&ws, "example-items", &sets, &fixtures);
    let stdout = assert_success(&out);
    assert!(
        line_of(&stdout, "page-limit").contains("holds no answer to `GET http://"),
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
    let missing = ws.path().join("no-such-cassette");
    let out = check(
        &ws,
        "example-items",
        &["base_url=http://127.0.0.1:9".to_string()],
        &["--fixtures", missing.to_str().unwrap()],
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("no-such-cassette"), "{stderr}");
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
        12,
        "one escaped line per rule:\n{stdout}"
    );
    assert!(
        line_of(&stdout, "describe-io").starts_with("PASS 2 "),
        "describe is still watched:\n{stdout}"
    );
    assert!(
        line_of(&stdout, "delta-subset").starts_with("SKIP 11 "),
        "the other rules are skipped:\n{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
}
