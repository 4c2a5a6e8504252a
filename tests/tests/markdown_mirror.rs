//! The Markdown mirror end to end: the real `synchost` binary runs the real
//! `confluence.wasm` against `synchost-fake confluence`, exports the space
//! as Markdown (`export --format markdown`) and as text, and pushes edits
//! of the Markdown back (`push --from DIR`). Every page body the fake
//! generates must convert back byte for byte; an edited paragraph must
//! reach the fake as exactly that paragraph's new storage XML.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::confluence_streams::{self, EMAIL, TOKEN};
use support::{
    assert_exit_code, assert_success, files_under, json_lines, output_text, FakeServer, Synchost,
    Workspace,
};

const RAW: &str = "```xml confluence-storage";

fn synchost<'a>(ws: &'a Workspace, args: &[&str]) -> Synchost<'a> {
    confluence_streams::synchost(ws, args).shared_cache()
}

/// A fake space with `pages` pages (one attachment each, some folders),
/// pulled into a new workspace as source `docs`.
fn pulled_space(pages: u32) -> (FakeServer, Workspace) {
    let pages = pages.to_string();
    let fake = confluence_streams::start_fake(&[
        "--pages",
        &pages,
        "--folders",
        "5",
        "--attachments-per-page",
        "1",
    ]);
    let ws = Workspace::new();
    confluence_streams::write_config(&ws, &fake, "");
    assert_success(&synchost(&ws, &["pull", "docs"]).output());
    (fake, ws)
}

/// `export docs --format FORMAT --out <ws>/FORMAT`: the directory and its
/// report line.
fn export(ws: &Workspace, format: &str) -> (PathBuf, String) {
    let dir = ws.path().join(format);
    let out = synchost(
        ws,
        &[
            "export",
            "docs",
            "--format",
            format,
            "--out",
            &dir.display().to_string(),
        ],
    )
    .output();
    assert_success(&out);
    (dir, output_text(&out).1)
}

/// `push docs --from DIR [extra]`: stdout and stderr.
fn push_from(ws: &Workspace, dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["push", "docs", "--from"];
    let dir = dir.display().to_string();
    args.push(&dir);
    args.extend_from_slice(extra);
    let out = synchost(ws, &args).output();
    assert_success(&out);
    output_text(&out)
}

/// The fake's pages and blog posts: id -> (version, title, stream).
fn fake_pages(fake: &FakeServer) -> BTreeMap<String, (String, String, String)> {
    fake.ground_truth_json()
        .as_array()
        .expect("ground truth")
        .iter()
        .filter(|e| e["stream"] == "pages" || e["stream"] == "blogposts")
        .map(|e| {
            let version = match &e["version"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            (
                e["id"].as_str().unwrap().to_string(),
                (
                    version,
                    e["title"].as_str().unwrap_or_default().to_string(),
                    e["stream"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// The stored page bodies by id (`export docs` JSON lines).
fn stored_bodies(ws: &Workspace) -> BTreeMap<String, String> {
    json_lines(&assert_success(&synchost(ws, &["export", "docs"]).output()))
        .into_iter()
        .filter(|r| r["stream"] == "pages" && r["deleted"] == false)
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A page's storage body and title as the fake serves them now.
fn remote_page(fake: &FakeServer, id: &str) -> (String, String) {
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
    );
    let page = fake
        .get(
            &format!("/wiki/api/v2/pages/{id}?body-format=storage"),
            &[("Authorization", &auth)],
        )
        .json();
    (
        page["body"]["storage"]["value"]
            .as_str()
            .unwrap()
            .to_string(),
        page["title"].as_str().unwrap().to_string(),
    )
}

/// Every file below `dir` with this extension (the mirror's own files
/// are dot-names, none of them `.md` or `.txt`).
fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

/// A front matter value as written (a JSON-compatible double-quoted string).
fn front(text: &str, key: &str) -> Option<String> {
    let (matter, _) = text.strip_prefix("---\n")?.split_once("\n---\n")?;
    let value = matter
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}: ")))?;
    serde_json::from_str::<Option<String>>(value).ok().flatten()
}

/// The Markdown files by the page id in their front matter.
fn markdown_pages(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut pages = BTreeMap::new();
    for path in files_with(dir, "md") {
        let text = fs::read_to_string(&path).unwrap();
        let id = front(&text, "id").unwrap_or_else(|| panic!("no id in {}", path.display()));
        assert!(pages.insert(id, path).is_none(), "two files of one page");
    }
    pages
}

#[test]
fn every_fake_body_round_trips_and_an_untouched_mirror_stages_nothing() {
    let (fake, ws) = pulled_space(300);
    let truth = fake_pages(&fake);
    let (md, report) = export(&ws, "markdown");
    assert!(report.contains("written"), "{report}");

    // One file per page, its front matter the page's.
    let files = markdown_pages(&md);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
    let mut tables = 0;
    let mut all_raw = 0;
    for (id, path) in &files {
        let text = fs::read_to_string(path).unwrap();
        let (version, title, stream) = &truth[id];
        assert_eq!(front(&text, "title").as_deref(), Some(title.as_str()));
        assert_eq!(front(&text, "version").as_deref(), Some(version.as_str()));
        assert_eq!(front(&text, "stream").as_deref(), Some(stream.as_str()));
        // Blog posts are filed as Blog/YYYY/MM/Title.md; pages are not.
        let place: Vec<String> = path
            .strip_prefix(&md)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let digits = |c: &String, n: usize| c.len() == n && c.bytes().all(|b| b.is_ascii_digit());
        let filed =
            place.len() == 4 && place[0] == "Blog" && digits(&place[1], 4) && digits(&place[2], 2);
        assert_eq!(filed, stream == "blogposts", "{}", path.display());
        tables += usize::from(text.contains("| Key | Value |\n| --- | --- |"));
        let body = text.split_once("\n---\n").map_or("", |(_, body)| body);
        all_raw += usize::from(body.trim_start().starts_with(RAW));
        // Escaped text stays escaped.
        assert!(!text.contains("<b>not bold</b>"), "{}", path.display());
    }
    assert!(tables > 0, "tables become Markdown tables");
    assert_eq!(all_raw, 0, "every fake body reads as Markdown");

    // Incremental: a rerun writes nothing.
    let (_, again) = export(&ws, "markdown");
    assert!(again.contains(": 0 written"), "{again}");

    // Untouched: nothing would be staged, nothing is sent.
    let (stdout, stderr) = push_from(&ws, &md, &["--dry-run"]);
    assert!(!stdout.contains("would stage"), "{stdout}");
    assert!(!stderr.contains("not pushed"), "{stderr}");

    // Every file read back: a comment in each front matter makes each file
    // differ from its export, so each is converted back to storage, which
    // must be the stored body exactly (else it would be staged).
    for path in files.values() {
        let text = fs::read_to_string(path).unwrap();
        fs::write(path, text.replacen("---\n", "---\n# checked\n", 1)).unwrap();
    }
    let before = fake.ground_truth_json();
    let (stdout, stderr) = push_from(&ws, &md, &[]);
    assert!(!stderr.contains("not pushed"), "{stderr}");
    assert!(
        stderr.contains("Nothing to push for docs") && !stdout.contains("would stage"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(fake.ground_truth_json(), before, "the remote is untouched");
}

#[test]
fn an_edited_paragraph_reaches_the_fake_as_exactly_that_paragraph() {
    let (fake, ws) = pulled_space(20);
    let bodies = stored_bodies(&ws);
    let (md, _) = export(&ws, "markdown");
    let files = markdown_pages(&md);
    let (id, path) = files
        .iter()
        .find(|(id, _)| bodies.contains_key(*id))
        .unwrap();
    let body = &bodies[id];
    let version = &fake_pages(&fake)[id].0;

    // Every generated body ends with `<p>Revision N.</p>`.
    let last = format!("<p>Revision {version}.</p>");
    assert!(body.ends_with(&last), "{body}");
    let text = fs::read_to_string(path).unwrap();
    let edited = text.replace(
        &format!("\nRevision {version}.\n"),
        &format!("\nRevision {version}, edited: a < b & **c**.\n\nA new paragraph.\n"),
    );
    assert_ne!(edited, text);
    fs::write(path, &edited).unwrap();

    let (stdout, _) = push_from(&ws, &md, &["--dry-run"]);
    assert_eq!(stdout.matches("would stage: update").count(), 1, "{stdout}");
    push_from(&ws, &md, &[]);
    let expected = format!(
        "{}<p>Revision {version}, edited: a &lt; b &amp; <strong>c</strong>.</p><p>A new paragraph.</p>",
        &body[..body.len() - last.len()]
    );
    let (remote, title) = remote_page(&fake, id);
    assert_eq!(remote, expected, "only the edited paragraph changed");
    assert_eq!(title, fake_pages(&fake)[id].1, "the title is kept");

    // Pushed: the mirror knows, nothing is staged again.
    let (stdout, _) = push_from(&ws, &md, &["--dry-run"]);
    assert!(!stdout.contains("would stage"), "{stdout}");
    // After a pull the export writes the page as the remote has it now.
    assert_success(&synchost(&ws, &["pull", "docs"]).output());
    let (_, report) = export(&ws, "markdown");
    assert!(report.contains(": 1 written"), "{report}");
    let rewritten = fs::read_to_string(path).unwrap();
    assert!(
        rewritten.contains("edited: a &lt; b &amp; **c**."),
        "{rewritten}"
    );
}

#[test]
fn front_matter_edits_rename_and_relabel_and_bad_files_are_refused_untouched() {
    let (fake, ws) = pulled_space(10);
    let (md, _) = export(&ws, "markdown");
    let pages = stored_bodies(&ws);
    let files = markdown_pages(&md);
    let mut ids = files.keys().filter(|id| pages.contains_key(*id));
    let (renamed, broken, stolen) = (
        ids.next().unwrap().clone(),
        ids.next().unwrap().clone(),
        ids.next().unwrap().clone(),
    );

    // A new title with YAML-breaking text, and labels.
    let path = &files[&renamed];
    let text = fs::read_to_string(path).unwrap();
    let title_line = text.lines().find(|l| l.starts_with("title: ")).unwrap();
    let new_title = "Renamed: \"quoted\" # not a comment\n---";
    let edited = text.replacen(
        title_line,
        &format!(
            "title: {}\nlabels: [zeta, \"alpha\", alpha]",
            serde_json::to_string(new_title).unwrap()
        ),
        1,
    );
    fs::write(path, &edited).unwrap();

    // Front matter that does not end, and an id that is another page's.
    let broken_path = &files[&broken];
    let broken_text = fs::read_to_string(broken_path)
        .unwrap()
        .replacen("\n---\n", "\n", 1);
    fs::write(broken_path, &broken_text).unwrap();
    let stolen_path = &files[&stolen];
    let stolen_text = fs::read_to_string(stolen_path).unwrap().replacen(
        &format!("id: \"{stolen}\""),
        &format!("id: \"{renamed}\""),
        1,
    );
    fs::write(stolen_path, &stolen_text).unwrap();

    let (_, stderr) = push_from(&ws, &md, &[]);
    assert!(
        stderr.contains("front matter: not `key: value`")
            && stderr.contains("the file is left as it is"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the front matter's id {renamed} is not this file's record {stolen}"
        )),
        "{stderr}"
    );
    // Refused files are left exactly as they were.
    assert_eq!(fs::read_to_string(broken_path).unwrap(), broken_text);
    assert_eq!(fs::read_to_string(stolen_path).unwrap(), stolen_text);

    let changes = serde_json::from_str::<Value>(&assert_success(
        &synchost(&ws, &["changes", "--all", "--json"]).output(),
    ))
    .unwrap();
    let changes = changes["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["record_id"], renamed.as_str());
    assert_eq!(changes[0]["title"], new_title);
    let metadata: Value = serde_json::from_str(changes[0]["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata["labels"], serde_json::json!(["alpha", "zeta"]));
    assert_eq!(remote_page(&fake, &renamed).1, new_title);
}

#[test]
fn text_export_is_plain_incremental_and_mirrors_keep_their_format() {
    let (fake, ws) = pulled_space(30);
    let (text_dir, report) = export(&ws, "text");
    let written = report
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{report}"));
    let truth = fake_pages(&fake);
    let titles: Vec<&str> = truth.values().map(|(_, title, _)| title.as_str()).collect();
    // Pages are text files that start with their title (attachments named
    // `.txt` are copied as they are).
    let mut pages = 0;
    for path in files_with(&text_dir, "txt") {
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        if !titles.contains(&text.lines().next().unwrap_or_default()) {
            continue;
        }
        pages += 1;
        // No markup and no entities; text that reads `<b>` stays that text.
        for markup in [
            "<p>", "</p>", "<ac:", "<h1>", "<table", "&amp;", "&lt;", "&quot;",
        ] {
            assert!(!text.contains(markup), "{markup} in {text}");
        }
        assert!(text.contains("Revision "), "{text}");
    }
    assert_eq!(pages, truth.len());
    let (_, again) = export(&ws, "text");
    assert!(
        again.contains(&format!(
            ": 0 written, 0 moved, 0 removed, {written} unchanged"
        )),
        "{again}"
    );

    // A text mirror is not pushed from, and a mirror keeps its format.
    let out = synchost(
        &ws,
        &[
            "push",
            "docs",
            "--from",
            &text_dir.display().to_string(),
            "--dry-run",
        ],
    )
    .output();
    assert_exit_code(&out, 2);
    assert!(output_text(&out).1.contains("plain-text mirror"));
    let out = synchost(
        &ws,
        &[
            "export",
            "docs",
            "--format",
            "files",
            "--out",
            &text_dir.display().to_string(),
        ],
    )
    .output();
    assert_exit_code(&out, 2);
    assert!(
        output_text(&out).1.contains("holds a text mirror"),
        "{:?}",
        output_text(&out)
    );
}

#[test]
fn new_markdown_files_become_a_child_page_and_a_blog_post() {
    let (fake, ws) = pulled_space(10);
    let (md, _) = export(&ws, "markdown");
    let pages = stored_bodies(&ws);
    let files = markdown_pages(&md);
    let (parent, parent_file) = files
        .iter()
        .find(|(id, path)| pages.contains_key(*id) && path.with_extension("").is_dir())
        .expect("a page with a folder");
    let folder = parent_file.with_extension("");
    fs::write(
        folder.join("Child notes.md"),
        "First *child* paragraph & more.\n",
    )
    .unwrap();
    fs::write(
        md.join("Launch post.md"),
        "---\ntitle: \"Launch: day one\"\nstream: \"blogposts\"\n---\n\n# Launch\n\n- one\n- two\n",
    )
    .unwrap();
    // A file without front matter beside blog posts is a blog post too.
    let month = files
        .values()
        .find(|path| path.starts_with(md.join("Blog")))
        .and_then(|path| path.parent())
        .expect("blog posts under Blog/")
        .to_path_buf();
    fs::write(month.join("Retro.md"), "What went well.\n").unwrap();
    let (stdout, stderr) = push_from(&ws, &md, &[]);
    assert!(!stderr.contains("not pushed"), "{stdout}\n{stderr}");

    let truth = fake.ground_truth_json();
    let created = |title: &str| -> Value {
        truth
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["title"] == title)
            .unwrap_or_else(|| panic!("no {title} in the fake"))
            .clone()
    };
    let child = created("Child notes");
    assert_eq!(child["stream"], "pages");
    assert_eq!(child["parent_id"], parent.as_str());
    let (body, _) = remote_page(&fake, child["id"].as_str().unwrap());
    assert_eq!(body, "<p>First <em>child</em> paragraph &amp; more.</p>");
    let post = created("Launch: day one");
    assert_eq!(post["stream"], "blogposts");
    assert_eq!(created("Retro")["stream"], "blogposts");
    // The mirror knows them now: nothing is staged again.
    let (stdout, _) = push_from(&ws, &md, &["--dry-run"]);
    assert!(!stdout.contains("would stage"), "{stdout}");
}
