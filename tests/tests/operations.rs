//! End-to-end operations (docs/operations.md): `synchost init` writing a
//! source from a plugin's manifest, ad-hoc pulls authenticated from the
//! manifest's auth info, and `synchost import` restoring an export. The
//! real `synchost` binary runs the real plugins against the fakes.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;
use support::{
    assert_exit_code, assert_success, export, json_lines, output_text, plugin_path, stored,
    str_field, FakeServer, Synchost, Workspace, TOKEN_VAR,
};

/// The items fake's token, and the variable the example plugin suggests.
const ITEMS_TOKEN: &str = "s3cret";
const ITEMS_VAR: &str = "ITEMS_TOKEN";
/// The Confluence fake's user and token, in the variables its manifest suggests.
const EMAIL: &str = "ops@example.com";
const API_TOKEN: &str = "c0nfluence-ops-t0ken";
/// Every variable a plugin's manifest suggests here: removed from each run
/// unless the test sets it, so the environment of the test runner counts for nothing.
const SUGGESTED: [&str; 5] = [
    ITEMS_VAR,
    "CONFLUENCE_EMAIL",
    "CONFLUENCE_API_TOKEN",
    "SUPABASE_KEY",
    "SUPABASE_JWT",
];

/// `synchost ARGS` in `ws` with exactly the suggested variables of `env` set,
/// and stdin from `stdin` when given.
fn run(ws: &Workspace, args: &[&str], env: &[(&str, &str)], stdin: Option<&Path>) -> Output {
    let mut command = Synchost::new(ws).args(args).command();
    for var in SUGGESTED {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    if let Some(path) = stdin {
        command.stdin(fs::File::open(path).expect("open the input"));
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run synchost")
}

/// `synchost init --plugin PLUGIN <extra...>`.
fn init(ws: &Workspace, plugin: &str, extra: &[&str]) -> Output {
    let path = plugin_path(plugin).display().to_string();
    let mut args = vec!["init", "--plugin", path.as_str()];
    args.extend_from_slice(extra);
    run(ws, &args, &[], None)
}

/// No raw control or bidi character in `text` (line breaks and tabs aside).
#[track_caller]
fn assert_printable(what: &str, text: &str) {
    let bad = text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c)
    });
    assert!(bad.is_none(), "{what} holds {bad:?}: {text}");
}

/// (stream, id, version) of the live records of an export.
fn live(records: &[Value]) -> BTreeSet<(String, String, String)> {
    records
        .iter()
        .filter(|r| r["deleted"] != true)
        .map(|r| {
            (
                str_field(r, "stream").to_owned(),
                str_field(r, "id").to_owned(),
                str_field(r, "version").to_owned(),
            )
        })
        .collect()
}

/// (stream, id, version) of a fake's `/_control/items` (`stream` when the
/// fake does not say).
fn truth(fake: &FakeServer, stream: &str) -> BTreeSet<(String, String, String)> {
    let json = fake.ground_truth_json();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    json.as_array()
        .expect("/_control/items is an array")
        .iter()
        .map(|e| {
            let s = e["stream"].as_str().unwrap_or(stream).to_owned();
            (s, text(&e["id"]), text(&e["version"]))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// synchost init

/// A config with one source and comments: what init must leave byte for byte.
const EXISTING: &str = "# my sources\n[store]\npath = \"data/s.db\"\n\n\
                        [sources.other]\nplugin = \"other.wasm\" # not loaded by init\n";

/// init appends a source for the example plugin after the existing text,
/// unchanged: its required base_url a placeholder (a pull names it until it
/// is filled), the auth block naming ITEMS_TOKEN. Filled in (as a user's
/// editor would), the source pulls the fake's items. A second init of the
/// same name is refused and changes nothing.
#[test]
fn init_appends_a_source_that_pulls_once_filled_in() {
    let fake = FakeServer::start("items", &["--count", "120", "--token", ITEMS_TOKEN]);
    let ws = Workspace::new();
    let config = ws.write_config(EXISTING);
    let out = init(&ws, "example-items", &["--name", "things"]);
    let stderr = assert_exit_code(&out, 0);
    assert!(stderr.contains("Fill in base_url"), "{stderr}");
    assert!(stderr.contains("ITEMS_TOKEN"), "{stderr}");
    let written = fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(EXISTING), "{written}");
    let block = &written[EXISTING.len()..];
    assert!(block.contains("[sources.things]\n"), "{block}");
    assert!(block.contains("# Root of the items API"), "{block}");
    assert!(block.contains("base_url = \"<fill in>\"\n"), "{block}");
    assert!(
        block.contains("[sources.things.auth]\ntype = \"bearer\"\ntoken_env = \"ITEMS_TOKEN\"\n"),
        "{block}"
    );

    let env = [(ITEMS_VAR, ITEMS_TOKEN)];
    let out = run(&ws, &["pull", "things"], &env, None);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("setting `base_url` is still \"<fill in>\""),
        "{stderr}"
    );

    let filled = written.replace("\"<fill in>\"", &format!("\"{}\"", fake.url()));
    fs::write(&config, &filled).unwrap();
    assert_success(&run(&ws, &["pull", "things"], &env, None));
    let records = export(&ws, "things", &[]);
    assert_eq!(live(&records), truth(&fake, "items"));
    assert_eq!(records.len(), 120);

    for name in ["things", "other"] {
        let out = init(&ws, "example-items", &["--name", name]);
        let stderr = assert_exit_code(&out, 2);
        assert!(
            stderr.contains(&format!("already has a source `{name}`")),
            "{stderr}"
        );
    }
    assert_eq!(fs::read_to_string(&config).unwrap(), filled);
}

/// init of the Confluence plugin with its required settings given: basic
/// auth naming the manifest's variables, allowed_hosts from base_url, the
/// optional settings as comments; it pulls the space with nothing edited.
/// No config yet: init creates it, under the plugin's own name.
#[test]
fn init_with_settings_given_pulls_at_once() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "30", "--email", EMAIL, "--token", API_TOKEN],
    );
    let ws = Workspace::new();
    let base_url = format!("base_url={}", fake.url());
    let out = init(
        &ws,
        "confluence",
        &["--set", &base_url, "--set", "space=DOCS"],
    );
    let stderr = assert_exit_code(&out, 0);
    assert!(!stderr.contains("Fill in"), "{stderr}");
    let written = fs::read_to_string(ws.config_path()).unwrap();
    assert!(written.starts_with("# confluence "), "{written}");
    assert!(
        written.contains(&format!(
            "allowed_hosts = [\"http://127.0.0.1:{}\"]",
            fake.port()
        )),
        "{written}"
    );
    assert!(
        written.contains(
            "type = \"basic\"\nusername_env = \"CONFLUENCE_EMAIL\"\npassword_env = \"CONFLUENCE_API_TOKEN\"\n"
        ),
        "{written}"
    );
    assert!(written.contains("\n# include_comments = "), "{written}");
    assert!(!written.contains(EMAIL) && !written.contains(API_TOKEN));

    let env = [
        ("CONFLUENCE_EMAIL", EMAIL),
        ("CONFLUENCE_API_TOKEN", API_TOKEN),
    ];
    let out = run(
        &ws,
        &["pull", "confluence", "--page-size", "250"],
        &env,
        None,
    );
    assert_success(&out);
    assert_eq!(live(&export(&ws, "confluence", &[])), truth(&fake, "pages"));
}

/// With `--config` in another directory, a plugin below it is written
/// relative to it (as config paths are read), and the source pulls from
/// anywhere; `--set` of a setting the manifest does not declare is kept.
#[test]
fn init_writes_the_plugin_relative_to_the_config() {
    let fake = FakeServer::start("items", &["--count", "30", "--token", ITEMS_TOKEN]);
    let ws = Workspace::new();
    let plugins = ws.path().join("conf/plugins");
    fs::create_dir_all(&plugins).unwrap();
    fs::copy(plugin_path("example-items"), plugins.join("items.wasm")).unwrap();
    let base_url = format!("base_url={}", fake.url());
    let args = [
        "--config",
        "conf/synchost.toml",
        "init",
        "--plugin",
        "conf/plugins/items.wasm",
        "--set",
        &base_url,
        "--set",
        "note=kept as given",
    ];
    assert_success(&run(&ws, &args, &[], None));
    let written = fs::read_to_string(ws.path().join("conf/synchost.toml")).unwrap();
    assert!(
        written.contains("\nplugin = \"plugins/items.wasm\"\n"),
        "{written}"
    );
    assert!(
        written.contains("\nnote = \"kept as given\"\n"),
        "{written}"
    );
    let pull = ["--config", "conf/synchost.toml", "pull", "example-items"];
    let out = run(&ws, &pull, &[(ITEMS_VAR, ITEMS_TOKEN)], None);
    let stderr = assert_exit_code(&out, 0);
    assert!(
        stderr.contains("note"),
        "the undeclared setting is warned about: {stderr}"
    );
    assert_eq!(
        live(&export(&ws, "example-items", &[])),
        truth(&fake, "items")
    );
}

/// A manifest that forges lines and floods is refused by init as by pull:
/// exit 2, the config untouched, nothing raw on the terminal.
#[test]
fn init_refuses_a_hostile_manifest_and_leaves_the_config() {
    let ws = Workspace::new();
    let config = ws.write_config(EXISTING);
    let out = init(&ws, "hostile-manifest", &[]);
    let stderr = assert_exit_code(&out, 2);
    let (stdout, _) = output_text(&out);
    assert_printable("stderr", &stderr);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("the plugin is unusable"), "{stderr}");
    assert_eq!(fs::read_to_string(&config).unwrap(), EXISTING);
}

/// A source whose manifest tries to inject TOML through its description,
/// setting names and defaults (tests/plugins/hostile-setup): what init
/// appends parses to exactly one new source with the declared settings,
/// no other table and no raw control character.
#[test]
fn init_escapes_what_a_manifest_writes() {
    let ws = Workspace::new();
    let config = ws.write_config(EXISTING);
    let out = init(&ws, "hostile-setup", &["--name", "setup"]);
    let stderr = assert_exit_code(&out, 0);
    assert_printable("stderr", &stderr);
    let written = fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(EXISTING));
    let block = &written[EXISTING.len()..];
    assert_printable("the appended block", block);
    // Each forged table header stays inside a comment or a string.
    for line in block.lines() {
        assert!(
            !line.starts_with('[') || line.starts_with("[sources.setup"),
            "an injected table: {line}\n{block}"
        );
    }
    let tables: Vec<&str> = block.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        tables,
        [
            "[sources.setup]",
            "[sources.setup.settings]",
            "[sources.setup.auth]"
        ],
        "{block}"
    );
    // The only keys set are init's own and the declared required setting.
    let keys: BTreeSet<&str> = block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| l.split(" = ").next().unwrap_or(l))
        .collect();
    let expected = ["plugin", "base_url", "type", "name", "value_env"];
    assert_eq!(keys, BTreeSet::from(expected), "{block}");
    // The optional settings are commented out, their names quoted and escaped.
    assert!(
        block.contains("\n# \"quote\\\" = \\\"d\" = \"\\\"\\\"\\\"\\u000A[store]"),
        "{block}"
    );
    // The placeholder is named, escaped, until filled.
    let out = run(&ws, &["pull", "setup"], &[("HOSTILE_KEY", "k")], None);
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("is still \"<fill in>\""), "{stderr}");
}

// ---------------------------------------------------------------------------
// Ad-hoc auth from the manifest

/// `pull --plugin PLUGIN --set base_url=FAKE`, a `--set` for each leading
/// `KEY=VALUE` of `sets`, then the rest of `sets` (flags) as they are.
fn ad_hoc_pull(plugin: &str, fake: &FakeServer, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["pull", "--plugin"].map(String::from).to_vec();
    args.push(plugin_path(plugin).display().to_string());
    args.push(format!("--set=base_url={}", fake.url()));
    let flags = sets
        .iter()
        .position(|s| !s.contains('='))
        .unwrap_or(sets.len());
    args.extend(sets[..flags].iter().map(|set| format!("--set={set}")));
    args.extend(sets[flags..].iter().map(|flag| flag.to_string()));
    args
}

/// `pull --plugin confluence.wasm` authenticates with the variables the
/// manifest suggests. One of the two missing: exit 2 naming it, no value
/// shown. Both missing: a warning naming them, then the remote's 401 (exit 3).
#[test]
fn ad_hoc_pull_authenticates_as_the_manifest_suggests() {
    let fake = FakeServer::start(
        "confluence",
        &["--pages", "25", "--email", EMAIL, "--token", API_TOKEN],
    );
    let ws = Workspace::new();
    let owned = ad_hoc_pull("confluence", &fake, &["space=DOCS", "--page-size", "250"]);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();

    let out = run(&ws, &args, &[("CONFLUENCE_EMAIL", EMAIL)], None);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("CONFLUENCE_API_TOKEN is not set (its companion CONFLUENCE_EMAIL is)"),
        "{stderr}"
    );
    assert!(!stderr.contains(EMAIL), "{stderr}");

    let out = run(&ws, &args, &[], None);
    let stderr = assert_exit_code(&out, 3);
    assert!(
        stderr.contains(
            "expects basic credentials in CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN; none is set"
        ),
        "{stderr}"
    );

    let env = [
        ("CONFLUENCE_EMAIL", EMAIL),
        ("CONFLUENCE_API_TOKEN", API_TOKEN),
    ];
    let out = run(&ws, &args, &env, None);
    let stderr = assert_exit_code(&out, 0);
    assert!(!stderr.contains(API_TOKEN) && !stderr.contains(EMAIL));
    assert_eq!(live(&export(&ws, "confluence", &[])), truth(&fake, "pages"));
}

/// `pull --plugin supabase.wasm` sends the project key from SUPABASE_KEY
/// (the manifest's suggestion); SUPABASE_JWT alone is refused, naming the key.
#[test]
fn ad_hoc_supabase_pull_uses_the_suggested_key() {
    let fake = FakeServer::start("supabase", &["--table", "notes:40"]);
    let key = fake.stdout_line("service_role key: ").trim().to_owned();
    let ws = Workspace::new();
    let owned = ad_hoc_pull("supabase", &fake, &["tables=notes"]);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();

    let out = run(&ws, &args, &[("SUPABASE_JWT", "not-a-jwt")], None);
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("SUPABASE_KEY is not set (its companion SUPABASE_JWT is)"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-jwt"), "{stderr}");

    assert_success(&run(&ws, &args, &[("SUPABASE_KEY", &key)], None));
    let records = export(&ws, "supabase", &[]);
    assert_eq!(live(&records), truth(&fake, "notes"));
    assert_eq!(records.len(), 40);
}

// ---------------------------------------------------------------------------
// synchost import

/// A store of the items fake after a pull that saw updates and deletions
/// (tombstones in the export), in `ws` with `synchost.toml`.
fn pulled_items(fake: &FakeServer, ws: &Workspace) {
    support::items_config(
        ws,
        fake,
        &format!("[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n"),
    );
    let env = [(TOKEN_VAR, ITEMS_TOKEN)];
    assert_success(&run(ws, &["pull", "items"], &env, None));
    fake.mutate(5, 4, 3);
    assert_success(&run(ws, &["pull", "items", "--full"], &env, None));
}

/// `synchost export items` to a file in `ws`; returns its path and text.
fn export_to_file(ws: &Workspace, store: &str, name: &str) -> (std::path::PathBuf, String) {
    let out = run(ws, &["--store", store, "export", "items"], &[], None);
    let text = assert_success(&out);
    let path = ws.path().join(name);
    fs::write(&path, &text).unwrap();
    (path, text)
}

/// Pull, export, import into a fresh store, export again: the same bytes.
/// The next pull of the restored store (no watermark: one full listing)
/// catches up with what changed on the remote since the export, deletions
/// included, and fetches only what changed.
#[test]
fn import_restores_an_export_exactly_and_the_next_pull_catches_up() {
    let fake = FakeServer::start("items", &["--count", "300", "--token", ITEMS_TOKEN]);
    let ws = Workspace::new();
    pulled_items(&fake, &ws);
    let original = ws.store_path().display().to_string();
    let (file, first) = export_to_file(&ws, &original, "first.jsonl");
    let before = stored(&json_lines(&first));
    assert_eq!(before.deleted.len(), 4, "the export holds tombstones");

    let restored = ws.path().join("restored.db").display().to_string();
    let out = run(
        &ws,
        &["--store", &restored, "import", "items"],
        &[],
        Some(&file),
    );
    let stderr = assert_exit_code(&out, 0);
    assert!(
        stderr.contains("Imported 299 records and 4 tombstones"),
        "{stderr}"
    );
    let (_, second) = export_to_file(&ws, &restored, "second.jsonl");
    assert_eq!(first, second, "export → import → export changes nothing");

    // Importing again over the restored source is refused, changing nothing.
    let out = run(
        &ws,
        &["--store", &restored, "import", "items"],
        &[],
        Some(&file),
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(stderr.contains("already has source `items`"), "{stderr}");
    assert_eq!(export_to_file(&ws, &restored, "third.jsonl").1, first);

    fake.mutate(6, 2, 1);
    fake.reset_stats();
    let env = [(TOKEN_VAR, ITEMS_TOKEN)];
    let out = run(
        &ws,
        &["--store", &restored, "pull", "items", "--json"],
        &env,
        None,
    );
    let summary = support::summary_of(&assert_success(&out));
    let after = stored(&json_lines(
        &export_to_file(&ws, &restored, "after.jsonl").1,
    ));
    let mut truth = fake.ground_truth();
    truth.sort();
    assert_eq!(after.live, truth, "the restored store caught up");
    assert_eq!(
        after.deleted.len(),
        6,
        "old and new deletions are tombstones"
    );
    let written = summary["summary"]["counts"]["written"].as_u64();
    assert_eq!(written, Some(7), "only what changed was written: {summary}");
}

/// A bad line N refuses the import, naming N, and leaves the store as it
/// was: no source, no record.
#[test]
fn import_refuses_a_bad_line_and_keeps_nothing() {
    let fake = FakeServer::start("items", &["--count", "50", "--token", ITEMS_TOKEN]);
    let ws = Workspace::new();
    pulled_items(&fake, &ws);
    let (_, text) = export_to_file(&ws, &ws.store_path().display().to_string(), "x.jsonl");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = lines[6].replacen("\"version\"", "\"versoin\"", 1);
    let bad = ws.path().join("bad.jsonl");
    fs::write(&bad, lines.join("\n") + "\n").unwrap();

    let restored = ws.path().join("restored.db");
    let store = restored.display().to_string();
    let out = run(
        &ws,
        &["--store", &store, "import", "items"],
        &[],
        Some(&bad),
    );
    let stderr = assert_exit_code(&out, 2);
    assert!(
        stderr.contains("nothing imported: 1 bad line(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 7: not a record of `synchost export`: unknown field `versoin`"),
        "{stderr}"
    );
    let out = run(&ws, &["--store", &store, "status", "--json"], &[], None);
    let status: Value = serde_json::from_str(&assert_success(&out)).unwrap();
    assert_eq!(status.as_array().map(Vec::len), Some(0), "{status}");
    let out = run(&ws, &["--store", &store, "export", "items"], &[], None);
    assert!(assert_exit_code(&out, 2).contains("has no source `items`"));
}

// ---------------------------------------------------------------------------
// History

/// The store's time format, now (the store and this test share the clock).
fn store_now() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    now
}

/// Each pull that changes a record keeps its previous version, two at most
/// here (`keep_versions = 2`): `history` lists them with their runs, `show
/// --version` prints one, and `export --as-of` gives the store as it was:
/// byte for byte what `export` gave then, except the state retention let go.
#[test]
fn history_keeps_versions_within_retention_and_exports_as_of_a_time() {
    let fake = FakeServer::start("items", &["--count", "20", "--token", ITEMS_TOKEN]);
    let ws = Workspace::new();
    support::items_config(
        &ws,
        &fake,
        &format!(
            "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [sources.items.history]\nkeep_versions = 2\n"
        ),
    );
    let env = [(TOKEN_VAR, ITEMS_TOKEN)];
    let store = ws.store_path().display().to_string();
    const ID: &str = "item-000003";
    let mut exports = Vec::new();
    let mut times = Vec::new();
    for step in 0..5 {
        match step {
            0 => {}
            4 => {
                let deleted = fake.mutate_with(&serde_json::json!({"delete": 1}));
                assert_ne!(deleted["deleted"][0], ID);
            }
            _ => {
                fake.mutate_with(&serde_json::json!({"update_ids": [ID]}));
            }
        }
        assert_success(&run(&ws, &["pull", "items"], &env, None));
        exports.push(export_to_file(&ws, &store, &format!("e{step}.jsonl")).1);
        times.push(store_now());
    }

    let out = run(&ws, &["history", "items", ID, "--json"], &[], None);
    let versions: Value = serde_json::from_str(&assert_success(&out)).unwrap();
    let versions = versions.as_array().expect("a list");
    let shown: Vec<(&str, u64)> = versions
        .iter()
        .map(|v| (str_field(v, "version"), v["run"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(shown, [("4", 4), ("3", 3), ("2", 2)], "{versions:?}");
    assert!(versions[0]["valid_to"].is_null());
    let out = run(&ws, &["history", "items", ID], &[], None);
    let text = assert_success(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three states:\n{text}");
    assert!(
        lines[1].starts_with("4 ") && lines[1].contains("(current)"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("2 ") && lines[3].ends_with("live"),
        "{text}"
    );
    assert_eq!(versions[1]["valid_to"], versions[0]["valid_from"]);

    let line_of = |export: &str| -> Value {
        let found = json_lines(export).into_iter().find(|r| r["id"] == ID);
        found.expect("the record is in the export")
    };
    let out = run(&ws, &["show", "items", ID, "--version", "2"], &[], None);
    let shown: Value = serde_json::from_str(&assert_success(&out)).unwrap();
    assert_eq!(shown, line_of(&exports[1]));
    let out = run(&ws, &["show", "items", ID], &[], None);
    let shown: Value = serde_json::from_str(&assert_success(&out)).unwrap();
    assert_eq!(shown, line_of(&exports[4]));
    let out = run(&ws, &["show", "items", ID, "--version", "1"], &[], None);
    assert!(assert_exit_code(&out, 2).contains("kept: 4, 3, 2"));

    let as_of = |time: &str| {
        let out = run(&ws, &["export", "items", "--as-of", time], &[], None);
        assert_success(&out)
    };
    for step in 1..=4 {
        assert_eq!(as_of(&times[step]), exports[step], "as of step {step}");
    }
    // Version 1 of the record went with the retention: the rest is as it was.
    let without: String = exports[0]
        .lines()
        .filter(|l| !l.contains(&format!("\"id\":\"{ID}\"")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(as_of(&times[0]), without);
    assert_eq!(as_of("2000-01-01"), "");
    let out = run(&ws, &["export", "items", "--as-of", "yesterday"], &[], None);
    assert!(assert_exit_code(&out, 2).contains("is not a time"));
}
