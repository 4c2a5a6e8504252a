//! The mirror export under attack: the `hostile` test plugin
//! (`tests/plugins/hostile/src/mirror.rs`) stores records whose titles,
//! parents, path hints and blob names try to take over the directory that
//! `synchost export SOURCE --format files --out DIR` writes, and each test
//! runs the real binary on them and checks the tree it left:
//!
//! - nothing outside the mirror is read, moved or removed, even through a
//!   forged manifest or a symbolic link (sentinel files outside stay as they
//!   were);
//! - no name starts with a dot (no `.git` in any spelling, no dot-file a
//!   tool trusts, never the mirror's own manifest or temporary files), and
//!   no Windows device name, bidi override or invisible character appears;
//! - every path stays within the path budget, and a 100,000-deep chain is
//!   exported in bounded memory with one directory per record at most;
//! - files never overwrite each other (NFC/NFD and case twins, keys that
//!   used to collide, two blobs of one name).
//!
//! The same `.git` rule is checked through the first-party Confluence
//! plugin, with a page retitled `.git` on the Confluence fake.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_success, http_post_json, output_text, plugin_path, shared_cache_dir, str_field,
    synchost_bin, toml_str, FakeServer, Synchost, Workspace,
};

const MANIFEST: &str = ".synchost-mirror.json";
/// The export's budget for a path relative to the mirror root.
const MAX_PATH_BYTES: usize = 1024;
/// Most levels below the mirror root (32 levels of records and a blob).
const MAX_LEVELS: usize = 33;
/// A run that takes longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// `synchost ARGS` with the shared plugin cache.
fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    Synchost::new(ws)
        .args(args)
        .shared_cache()
        .timeout(RUN_TIMEOUT)
}

/// A workspace whose source `hostile` runs `attack` (with extra settings
/// lines) against an items fake, pulled once. Returns the pull's output too.
fn pulled(attack: &str, settings: &str) -> (FakeServer, Workspace, Output) {
    let fake = FakeServer::start("items", &["--count", "1"]);
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.hostile]\nplugin = {}\npage_size = 1000\n\n\
         [sources.hostile.settings]\nattack = {}\nbase_url = {}\n{settings}\n",
        toml_str(&plugin_path("hostile").display().to_string()),
        toml_str(attack),
        toml_str(fake.url()),
    ));
    let out = synchost(&ws, &["pull", "hostile"]).output();
    assert_success(&out);
    (fake, ws, out)
}

/// `synchost export hostile --format files --out DIR`, which must succeed;
/// returns its stderr.
#[track_caller]
fn export_files(ws: &Workspace, out: &Path) -> String {
    let dir = out.to_string_lossy().into_owned();
    let output = synchost(
        ws,
        &["export", "hostile", "--format", "files", "--out", &dir],
    )
    .output();
    assert_success(&output);
    output_text(&output).1
}

/// Every entry under `dir`, relative and `/`-separated, with whether it is a
/// directory; symbolic links are listed, never followed.
fn tree(dir: &Path) -> BTreeMap<String, bool> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, bool>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("under root");
            let rel = rel.to_string_lossy().into_owned();
            let is_dir = entry.file_type().expect("file type").is_dir();
            out.insert(rel, is_dir);
            if is_dir {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The manifest as `key -> (path, hash)`.
fn manifest(out: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).expect("the manifest");
    let v: Value = serde_json::from_str(&text).expect("the manifest is JSON");
    assert_eq!(v["source"], "hostile", "manifest source: {v}");
    v["entries"]
        .as_object()
        .expect("entries")
        .iter()
        .map(|(k, e)| {
            let pair = (
                str_field(e, "path").to_owned(),
                str_field(e, "hash").to_owned(),
            );
            (k.clone(), pair)
        })
        .collect()
}

/// `CON`, `com1.txt`, `LPT¹`, `CONIN$`...: names Windows opens as devices.
fn windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let stem = stem.to_uppercase();
    let numbered = ["COM", "LPT"].iter().any(|prefix| {
        stem.strip_prefix(prefix).is_some_and(|rest| {
            let mut chars = rest.chars();
            matches!(
                (chars.next(), chars.next()),
                (Some('0'..='9' | '¹' | '²' | '³'), None)
            )
        })
    });
    numbered || ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"].contains(&stem.as_str())
}

/// What holds for every mirror, whatever the plugin sent: each name is
/// portable and starts with no dot (the manifest at the root excepted), no
/// path exceeds the budget, the manifest names exactly the files on disk.
#[track_caller]
fn assert_safe_mirror(out: &Path) -> BTreeMap<String, bool> {
    let entries = tree(out);
    for (path, _) in entries.iter().filter(|(p, _)| *p != MANIFEST) {
        assert!(path.len() <= MAX_PATH_BYTES, "{} bytes: {path}", path.len());
        assert!(path.split('/').count() <= MAX_LEVELS, "too deep: {path}");
        for name in path.split('/') {
            assert!(!name.starts_with('.'), "a dot-name in the mirror: {path:?}");
            assert!(!windows_device(name), "a Windows device name: {path:?}");
            assert!(
                !name.chars().any(|c| c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')),
                "an invisible or reordering character: {path:?}"
            );
            let bare = name.trim_end_matches(['.', ' ']).to_lowercase();
            assert!(
                bare != ".git" && bare != "git~1",
                "a name git trusts: {path:?}"
            );
        }
    }
    let listed: Vec<String> = manifest(out).into_values().map(|(p, _)| p).collect();
    let files: Vec<String> = entries
        .iter()
        .filter(|(p, is_dir)| !**is_dir && *p != MANIFEST)
        .map(|(p, _)| p.clone())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(files, sorted, "the files on disk are the manifest's");
    entries
}

/// Files outside the mirror that an escaping export would touch.
struct Sentinels {
    files: Vec<(PathBuf, &'static str)>,
}

impl Sentinels {
    fn plant(dir: &Path, names: &[&str]) -> Sentinels {
        std::fs::create_dir_all(dir).expect("sentinel dir");
        let files = names
            .iter()
            .map(|name| {
                let path = dir.join(name);
                std::fs::write(&path, "sentinel: must stay as it is").expect("plant");
                (path, "sentinel: must stay as it is")
            })
            .collect();
        Sentinels { files }
    }

    #[track_caller]
    fn assert_untouched(&self) {
        for (path, content) in &self.files {
            let now = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("sentinel {} is gone: {e}", path.display()));
            assert_eq!(&now, content, "sentinel {} changed", path.display());
        }
    }
}

/// Issue 8, item 1. Records titled like the manifest (any case, with and
/// without `.json`) holding a forged manifest, attachments named like the
/// export's temporary files, and a chain of long titles that used to exceed
/// PATH_MAX: none of them becomes the manifest or a temporary file, and a
/// forged manifest left in the directory (absolute, `..` and symbolic-link
/// paths, one with the right hash for a move) touches nothing outside.
#[test]
fn forged_manifests_and_reserved_titles_touch_nothing_outside_the_mirror() {
    let ws_probe = Workspace::new();
    let absolute = ws_probe.path().join("absolute-victim.txt");
    let (_fake, ws, _) = pulled(
        "mirror-manifest",
        &format!("absolute = {}", toml_str(&absolute.display().to_string())),
    );
    let outside = ws.path().join("outside");
    let sentinels = Sentinels::plant(
        &outside,
        &["victim.txt", "sneaky.txt", "linked.txt", "victim2.txt"],
    );
    let absolute_sentinel = Sentinels::plant(ws_probe.path(), &["absolute-victim.txt"]);
    let out = ws.path().join("mirror");

    export_files(&ws, &out);
    let entries = assert_safe_mirror(&out);
    let manifest1 = manifest(&out);
    // Every record is there: 4 manifest look-alikes, 3 temp look-alikes, 60 links of the chain.
    assert_eq!(manifest1.len(), 4 + 3 + 60, "{manifest1:#?}");
    assert!(
        manifest1.values().all(|(p, _)| !p.contains("..")),
        "{manifest1:#?}"
    );
    let chain_path = &manifest1["items/chain-59"].0;
    assert!(chain_path.len() <= MAX_PATH_BYTES, "{chain_path}");
    let notes = &manifest1["items/temp-2"].0;
    assert_eq!(notes, "notes.synchost-tmp");
    assert!(
        entries.contains_key("_.synchost-mirror.json"),
        "{entries:#?}"
    );

    // A rerun keeps the attachment named like a temporary file.
    let stderr = export_files(&ws, &out);
    assert!(
        stderr.contains(&format!("0 written, 0 moved, 0 removed, {} unchanged", 67)),
        "{stderr}"
    );
    assert!(out.join(notes).is_file(), "the cleanup removed {notes}");

    // A forged manifest, as an older export could have left it: escapes by
    // `..`, by absolute path, and through a link to outside the mirror, one
    // with the hash of a planned file so the export would move it in.
    std::os::unix::fs::symlink(&outside, out.join("link")).expect("symlink");
    let temp1_hash = &manifest1["items/temp-1"].1;
    let forged = json!({
        "source": "hostile",
        "entries": {
            "items/victim": {"path": "../outside/victim.txt", "hash": "0"},
            "items/absolute": {"path": absolute.display().to_string(), "hash": "0"},
            "items/sneaky": {"path": "a/../../outside/sneaky.txt", "hash": "0"},
            "items/temp-1": {"path": "link/linked.txt", "hash": temp1_hash},
            "items/gone": {"path": "link/victim2.txt", "hash": "0"},
        }
    });
    std::fs::write(out.join(MANIFEST), forged.to_string()).expect("forge");
    let stderr = export_files(&ws, &out);
    sentinels.assert_untouched();
    absolute_sentinel.assert_untouched();
    assert_eq!(
        std::fs::read_link(out.join("link")).expect("the link stays"),
        outside
    );
    for path in ["../outside/victim.txt", "a/../../outside/sneaky.txt"] {
        assert!(
            stderr.contains("ignored manifest entry") && stderr.contains(path),
            "no warning for {path}:\n{stderr}"
        );
    }
    assert!(stderr.contains("symbolic link"), "{stderr}");
    // The mirror is whole again, the manifest the export's own.
    std::fs::remove_file(out.join("link")).expect("remove link");
    let after = manifest(&out);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        manifest1.keys().collect::<Vec<_>>()
    );
    assert_safe_mirror(&out);
}

/// Issue 8, item 2. A repository laid out by titles (`.git` in every
/// spelling, with `objects`, `refs`, `HEAD` and `config` below) and other
/// dot-names tools trust: none appears as written; each is kept under a
/// `_` prefix, its contents below it.
#[test]
fn git_and_other_dot_names_never_appear_in_the_mirror() {
    let (_fake, ws, _) = pulled("mirror-git", "");
    let out = ws.path().join("mirror");
    export_files(&ws, &out);
    let entries = assert_safe_mirror(&out);
    // Nothing is lost: every spelling is a directory of its own (most
    // spellings fold to `_.git` and are told apart by id), with its files.
    for file in ["HEAD", "config", "objects.txt", "refs.txt"] {
        let count = entries
            .keys()
            .filter(|p| p.ends_with(&format!("/{file}")))
            .count();
        assert_eq!(count, 10, "{file}: {entries:#?}");
    }
    for path in ["GIT_1/HEAD", "_.envrc/_.envrc", "_.vscode/settings.txt"] {
        assert!(entries.contains_key(path), "{path} missing: {entries:#?}");
    }
}

/// Issue 8, item 2, through the first-party Confluence plugin: a page
/// retitled `.git` (and one `.GIT.` below it) on the Confluence fake.
#[test]
fn a_confluence_page_titled_git_is_not_a_repository() {
    const EMAIL: &str = "e2e@example.com";
    const TOKEN: &str = "c0nfluence-mirror-t0ken";
    let fake = FakeServer::start(
        "confluence",
        &[
            "--pages", "30", "--seed", "8", "--email", EMAIL, "--token", TOKEN,
        ],
    );
    let truth = fake.ground_truth_json();
    let pages: Vec<&Value> = truth
        .as_array()
        .expect("truth")
        .iter()
        .filter(|e| e["stream"] == "pages")
        .collect();
    let (parent, child) = pages
        .iter()
        .find_map(|p| {
            let child = pages.iter().find(|c| c["parent_id"] == p["id"])?;
            Some((str_field(p, "id"), str_field(child, "id")))
        })
        .expect("a page with a child page");
    for (id, title) in [(parent, ".git"), (child, ".GIT.")] {
        http_post_json(
            &format!("{}/_control/retitle", fake.url()),
            &json!({"id": id, "title": title}),
        )
        .expect_status(200);
    }

    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.hostile]\nplugin = {}\n\n\
         [sources.hostile.settings]\nbase_url = {}\nspace = \"DOCS\"\n\n\
         [sources.hostile.auth]\ntype = \"basic\"\nusername_env = \"MIRROR_EMAIL\"\npassword_env = \"MIRROR_TOKEN\"\n",
        toml_str(&plugin_path("confluence").display().to_string()),
        toml_str(fake.url()),
    ));
    let run = |args: &[&str]| {
        synchost(&ws, args)
            .env("MIRROR_EMAIL", EMAIL)
            .env("MIRROR_TOKEN", TOKEN)
            .output()
    };
    assert_success(&run(&["pull", "hostile"]));
    let out = ws.path().join("mirror");
    let dir = out.to_string_lossy().into_owned();
    assert_success(&run(&[
        "export", "hostile", "--format", "files", "--out", &dir,
    ]));
    let entries = assert_safe_mirror(&out);
    let git_dir = entries
        .iter()
        .find(|(p, is_dir)| **is_dir && p.ends_with("_.git"))
        .unwrap_or_else(|| panic!("no `_.git` directory: {entries:#?}"));
    let child_file = format!("{}/_.GIT.html", git_dir.0);
    assert!(
        entries.contains_key(&child_file),
        "{child_file}: {entries:#?}"
    );
}

/// Issue 8, item 6. A 100,000-deep parent chain is exported within a data
/// limit of 1 GiB (it used to take 4 GB and abort), with no path over the
/// budget, no more directories than records, and every record a file.
#[test]
fn a_100000_deep_chain_exports_in_bounded_memory_and_paths() {
    const DEPTH: usize = 100_000;
    let (_fake, ws, _) = pulled("mirror-deep", &format!("depth = \"{DEPTH}\""));
    let out = ws.path().join("mirror");
    // Data segment and private writable mappings capped at 1 GiB.
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 1048576 && exec \"$0\" \"$@\"")
        .arg(synchost_bin())
        .args(["export", "hostile", "--format", "files", "--out"])
        .arg(&out)
        .current_dir(ws.path())
        .env("SYNCHOST_CACHE_DIR", shared_cache_dir())
        .output()
        .expect("run the export");
    assert_success(&output);
    let entries = tree(&out);
    let files = entries.values().filter(|is_dir| !**is_dir).count() - 1;
    let dirs = entries.values().filter(|is_dir| **is_dir).count();
    assert_eq!(files, DEPTH, "one file per record");
    assert!(dirs < DEPTH, "{dirs} directories for {DEPTH} records");
    let longest = entries.keys().map(String::len).max().unwrap_or(0);
    let deepest = entries
        .keys()
        .map(|p| p.split('/').count())
        .max()
        .unwrap_or(0);
    assert!(longest <= MAX_PATH_BYTES, "{longest} bytes");
    assert!(deepest <= MAX_LEVELS, "{deepest} levels");
    eprintln!("{DEPTH} records: {files} files, {dirs} directories, longest path {longest} bytes, {deepest} levels");
}

/// Issue 8, "Mirror names": NFC/NFD and case twins, Windows devices in
/// every spelling, bidi overrides and invisible characters, record `x#y`
/// beside blob `y` of record `x`, two blobs of one name, and a path hint
/// that climbs out: every record keeps a file of its own with its own bytes,
/// and a rerun finds everything unchanged (no two files share a key).
#[test]
fn name_twins_devices_invisible_characters_and_keys_stay_apart() {
    let (_fake, ws, pull) = pulled("mirror-names", "");
    let (_, pull_err) = output_text(&pull);
    assert!(
        pull_err.contains("two blobs named `photo.png`"),
        "the duplicate blob is reported:\n{pull_err}"
    );
    let out = ws.path().join("mirror");
    export_files(&ws, &out);
    let entries = assert_safe_mirror(&out);
    let manifest = manifest(&out);

    // Three Cafés, which macOS and Windows see as one name: three files,
    // written in NFC and told apart by id, each with its record's content.
    for id in ["nfc", "nfd", "upper-nfc"] {
        let (path, _) = &manifest[&format!("items/{id}")];
        assert!(
            path.contains(&format!("[{id}]")) && path.to_lowercase().starts_with("caf\u{e9} "),
            "{path:?}"
        );
        let content = std::fs::read_to_string(out.join(path)).expect("read");
        assert_eq!(content, format!("record {id}"), "{path}");
    }
    // Record `x#y` and blob `y` of record `x`: two keys, two files.
    let (record_path, _) = &manifest["items/x%23y"];
    let (blob_path, _) = &manifest["items/x#y"];
    assert_ne!(record_path, blob_path);
    assert_eq!(
        std::fs::read_to_string(out.join(record_path)).expect("read"),
        "record x#y"
    );
    assert!(std::fs::read_to_string(out.join(blob_path))
        .expect("read")
        .contains("blob=x-y"));
    // Two blobs named `photo.png`: both kept, each with its own bytes.
    let first = std::fs::read_to_string(out.join("twins/photo.png")).expect("first");
    let second = std::fs::read_to_string(out.join("twins/photo [2].png")).expect("second");
    assert!(first.contains("blob=first") && second.contains("blob=second"));
    // The path hint is followed, through the same rule.
    assert!(
        entries.contains_key("_.git/hooks/hinted.txt"),
        "{entries:#?}"
    );

    let stderr = export_files(&ws, &out);
    assert!(
        stderr.contains(&format!(
            "0 written, 0 moved, 0 removed, {} unchanged",
            manifest.len()
        )),
        "{stderr}"
    );
}

/// Issue 8, item 1: a write that fails half-way (here a directory of the
/// plan replaced by a link to outside the mirror) stops the export with a
/// message, writes nothing through the link, and leaves a manifest that
/// names exactly the files on disk; once the link is gone the next export
/// completes the mirror.
#[test]
fn a_failed_export_leaves_a_manifest_that_names_what_is_on_disk() {
    let (_fake, ws, _) = pulled("mirror-manifest", "");
    let outside = ws.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let out = ws.path().join("mirror");
    std::fs::create_dir_all(&out).expect("mirror");
    // The directory of the chain's first record.
    let first = format!("0000-{}", "L".repeat(115));
    std::os::unix::fs::symlink(&outside, out.join(&first)).expect("symlink");

    let dir = out.to_string_lossy().into_owned();
    let failed = synchost(
        &ws,
        &["export", "hostile", "--format", "files", "--out", &dir],
    )
    .output();
    let (_, stderr) = output_text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        0,
        "nothing was written through the link"
    );
    let listed = manifest(&out);
    for (key, (path, _)) in &listed {
        assert!(
            out.join(path).is_file(),
            "{key}: {path} is listed but missing"
        );
    }
    let on_disk = tree(&out)
        .into_iter()
        .filter(|(p, is_dir)| !is_dir && p != MANIFEST && *p != first)
        .count();
    assert_eq!(on_disk, listed.len(), "files on disk vs the manifest");

    std::fs::remove_file(out.join(&first)).expect("remove the link");
    export_files(&ws, &out);
    assert_eq!(manifest(&out).len(), 67);
    assert_safe_mirror(&out);
}
