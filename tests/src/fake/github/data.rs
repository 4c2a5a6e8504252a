//! The GitHub fake's dataset: one repository (blobs, trees and commits of
//! its default branch, built once per commit and cached) and its issues,
//! pull requests and comments.
//!
//! File bytes come from (seed, path, revision): a revision is a global
//! counter, so a file never gets back bytes it had before a force-push.
//! Extensions decide the kind: `.png`/`.bin` are binary, `.sh` executable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};

use super::git::{self, Entry, Mode, Oid, Snapshot, Tree};
use crate::fake::words::{mix64, WORDS};

/// 2025-01-01T00:00:00Z: the dataset's first commit and issue.
pub const EPOCH: i64 = 1_735_689_600;

/// The default branch.
pub const BRANCH: &str = "main";

/// What the dataset is made from.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub files: u32,
    pub file_kb: u32,
    pub binary_share: f64,
    pub issues: u32,
    pub comments: u32,
}

/// A commit of the default branch's history (or one a force-push dropped).
pub struct Commit {
    pub oid: Oid,
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub time: i64,
    pub message: String,
    pub files: Arc<Snapshot>,
}

/// An issue or a pull request (they share numbers, as on GitHub).
#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub open: bool,
    pub pull: bool,
    pub merged: bool,
    pub created: i64,
    pub updated: i64,
    pub closed: Option<i64>,
    pub comments: u32,
    pub user: &'static str,
}

/// An issue comment.
#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub created: i64,
    pub updated: i64,
    pub user: &'static str,
}

const USERS: &[&str] = &["octocat", "hubot", "monalisa", "mona-lisa", "defunkt"];

/// The repository and its issues.
pub struct Data {
    pub cfg: Config,
    pub blobs: HashMap<Oid, Bytes>,
    pub trees: HashMap<Oid, Arc<Tree>>,
    pub commits: HashMap<Oid, Arc<Commit>>,
    /// The default branch's head.
    pub head: Oid,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: BTreeMap<u64, Comment>,
    /// Next file revision (global, see the module docs).
    next_rev: u64,
    next_comment: u64,
    /// The last timestamp handed out: writes get strictly later ones.
    clock: i64,
    pub rng: StdRng,
}

fn path_hash(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn word(n: u64) -> &'static str {
    WORDS[(n % WORDS.len() as u64) as usize]
}

fn is_binary_path(path: &str) -> bool {
    path.ends_with(".png") || path.ends_with(".bin")
}

/// The bytes of `path` at revision `rev`: text lines of words, or binary
/// (with NULs) for `.png`/`.bin`; about `kb` KB (half to one and a half).
pub fn render(seed: u64, path: &str, rev: u64, kb: u32) -> Vec<u8> {
    let key = mix64(mix64(seed ^ path_hash(path)) ^ rev);
    let mut rng = StdRng::seed_from_u64(key);
    let target = (u64::from(kb) * 1024 / 2 + key % (u64::from(kb) * 1024 + 1)) as usize;
    if is_binary_path(path) {
        let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        out.extend((out.len()..target.max(out.len())).map(|_| rng.random::<u8>()));
        return out;
    }
    let mut out = format!("# {path} (revision {rev})\n").into_bytes();
    while out.len() < target {
        let n = rng.random_range(3..12);
        let line: Vec<&str> = (0..n)
            .map(|_| *WORDS.choose(&mut rng).unwrap_or(&"x"))
            .collect();
        out.extend_from_slice(line.join(" ").as_bytes());
        out.push(b'\n');
    }
    out
}

const TOPS: &[&str] = &[
    "src", "docs", "assets", "tests", "scripts", "lib", "config", "examples",
];

/// The path of the `i`-th generated file (`n` in all).
fn initial_path(seed: u64, i: u64, n: u64, binary_share: f64) -> String {
    if i == 0 {
        return "README.md".into();
    }
    let h = mix64(seed ^ mix64(i));
    let top = TOPS[(h % TOPS.len() as u64) as usize];
    let dirs = (n / 200).max(1);
    let dir = format!("{}-{}", word(h >> 8), (h >> 16) % dirs);
    let binary = ((h >> 32) as f64 / f64::from(u32::MAX)) < binary_share;
    let ext = match (binary, top) {
        (true, "assets") => "png",
        (true, _) => "bin",
        (false, "scripts") => "sh",
        (false, "docs") => "md",
        (false, "config") => "toml",
        (false, _) => "rs",
    };
    format!("{top}/{dir}/{}-{i}.{ext}", word(h >> 24))
}

impl Data {
    pub fn generate(cfg: Config) -> Data {
        let mut d = Data {
            blobs: HashMap::new(),
            trees: HashMap::new(),
            commits: HashMap::new(),
            head: [0; 20],
            issues: BTreeMap::new(),
            comments: BTreeMap::new(),
            next_rev: 1,
            next_comment: 1,
            clock: EPOCH,
            rng: StdRng::seed_from_u64(mix64(cfg.seed ^ 0x6769_7468_7562)),
            cfg,
        };
        let n = u64::from(d.cfg.files);
        let mut files = Snapshot::new();
        for i in 0..n {
            // With ten files or more, one is a symlink and one a submodule.
            let (path, entry) = match i {
                1 if n >= 10 => (
                    "docs/link-to-readme".to_owned(),
                    d.add_blob(Mode::Symlink, b"../README.md".to_vec()),
                ),
                2 if n >= 10 => {
                    let oid = git::object_id("commit", format!("vendor {}", d.cfg.seed).as_bytes());
                    (
                        "vendor/libwidget".to_owned(),
                        Entry {
                            mode: Mode::Submodule,
                            oid,
                        },
                    )
                }
                _ => {
                    let path = initial_path(d.cfg.seed, i, n, d.cfg.binary_share);
                    let entry = d.new_file(&path);
                    (path, entry)
                }
            };
            files.insert(path, entry);
        }
        d.head = d.commit(files, &[], EPOCH, "Initial commit".into());
        d.generate_issues();
        d
    }

    /// New bytes for `path` (a fresh revision), stored as a blob.
    pub fn new_file(&mut self, path: &str) -> Entry {
        let rev = self.next_rev;
        self.next_rev += 1;
        let bytes = render(self.cfg.seed, path, rev, self.cfg.file_kb);
        let mode = if path.ends_with(".sh") {
            Mode::Exec
        } else {
            Mode::File
        };
        self.add_blob(mode, bytes)
    }

    /// Stores `bytes` as a blob.
    pub fn add_blob(&mut self, mode: Mode, bytes: Vec<u8>) -> Entry {
        let oid = git::object_id("blob", &bytes);
        self.blobs.entry(oid).or_insert_with(|| Bytes::from(bytes));
        Entry { mode, oid }
    }

    /// Makes a commit of `files` (trees built and kept) and returns its id;
    /// it does not move the branch.
    pub fn commit(&mut self, files: Snapshot, parents: &[Oid], time: i64, message: String) -> Oid {
        let trees = &mut self.trees;
        let tree = git::build_trees(&files, &mut |oid, t| {
            trees.entry(oid).or_insert_with(|| Arc::new(t));
        });
        let oid = git::object_id("commit", &git::commit_body(&tree, parents, time, &message));
        self.commits.insert(
            oid,
            Arc::new(Commit {
                oid,
                tree,
                parents: parents.to_vec(),
                time,
                message,
                files: Arc::new(files),
            }),
        );
        oid
    }

    /// A commit on the branch: `change` edits a copy of the head's files.
    pub fn commit_on_head(
        &mut self,
        message: String,
        change: impl FnOnce(&mut Self, &mut Snapshot),
    ) -> Oid {
        let head = self.head_commit();
        let mut files = (*head.files).clone();
        change(self, &mut files);
        let time = self.tick();
        self.head = self.commit(files, &[head.oid], time, message);
        self.head
    }

    pub fn head_commit(&self) -> Arc<Commit> {
        self.commits[&self.head].clone()
    }

    /// The branch's history, newest first.
    pub fn history(&self) -> Vec<Arc<Commit>> {
        let mut out = Vec::new();
        let mut at = Some(self.head);
        while let Some(oid) = at {
            let Some(c) = self.commits.get(&oid) else {
                break;
            };
            at = c.parents.first().copied();
            out.push(c.clone());
        }
        out
    }

    /// A timestamp (epoch seconds) later than every one before: now, or the
    /// last plus one second.
    pub fn tick(&mut self) -> i64 {
        self.clock = chrono::Utc::now().timestamp().max(self.clock + 1);
        self.clock
    }

    /// A commit, a branch (`main`, `heads/main`, `refs/heads/main`) or a
    /// full commit sha.
    pub fn resolve(&self, rev: &str) -> Option<Arc<Commit>> {
        let rev = rev.strip_prefix("refs/").unwrap_or(rev);
        let rev = rev.strip_prefix("heads/").unwrap_or(rev);
        if rev == BRANCH {
            return Some(self.head_commit());
        }
        git::parse_oid(rev).and_then(|oid| self.commits.get(&oid).cloned())
    }

    fn generate_issues(&mut self) {
        let seed = self.cfg.seed;
        for number in 1..=u64::from(self.cfg.issues) {
            let h = mix64(seed ^ mix64(number ^ 0x1550e));
            let created = EPOCH + (number as i64) * 600 + (h % 300) as i64;
            let updated = created + (h >> 12) as i64 % 86_400;
            let pull = number.is_multiple_of(4);
            let open = !(h >> 40).is_multiple_of(3);
            self.issues.insert(
                number,
                Issue {
                    number,
                    title: format!("{} {} {}", word(h), word(h >> 6), word(h >> 18)),
                    body: issue_body(seed, number, 0),
                    open,
                    pull,
                    merged: pull && !open && (h >> 50).is_multiple_of(2),
                    created,
                    updated,
                    closed: (!open).then_some(updated),
                    comments: 0,
                    user: USERS[((h >> 30) % USERS.len() as u64) as usize],
                },
            );
        }
        let numbers: Vec<u64> = self.issues.keys().copied().collect();
        if numbers.is_empty() {
            return;
        }
        for i in 0..u64::from(self.cfg.comments) {
            let h = mix64(seed ^ mix64(i ^ 0xc0cc));
            let issue = numbers[(h % numbers.len() as u64) as usize];
            let base = self.issues[&issue].created;
            let created = base + 60 + (i as i64) * 7;
            self.push_comment(issue, comment_body(seed, i, 0), created, false);
        }
        // Comment activity leaves an issue's updated_at at least at its last comment.
        let last: HashMap<u64, i64> = self
            .comments
            .values()
            .map(|c| (c.issue, c.updated))
            .collect();
        for (n, t) in last {
            if let Some(issue) = self.issues.get_mut(&n) {
                issue.updated = issue.updated.max(t);
            }
        }
        self.clock = self
            .issues
            .values()
            .map(|i| i.updated)
            .chain(self.comments.values().map(|c| c.updated))
            .max()
            .unwrap_or(EPOCH)
            .max(self.clock);
    }

    /// Adds a comment on `issue` at `time`; `touch`: the issue's
    /// `updated_at` moves to it.
    pub fn push_comment(&mut self, issue: u64, body: String, time: i64, touch: bool) -> u64 {
        let id = self.next_comment;
        self.next_comment += 1;
        let user = USERS[(mix64(id) % USERS.len() as u64) as usize];
        self.comments.insert(
            id,
            Comment {
                id,
                issue,
                body,
                created: time,
                updated: time,
                user,
            },
        );
        if let Some(i) = self.issues.get_mut(&issue) {
            i.comments += 1;
            if touch {
                i.updated = time;
            }
        }
        id
    }

    /// A new issue (every fourth number a pull request, as generated).
    pub fn create_issue(&mut self, title: String, body: String) -> u64 {
        let number = self.issues.keys().next_back().copied().unwrap_or(0) + 1;
        let time = self.tick();
        self.issues.insert(
            number,
            Issue {
                number,
                title,
                body,
                open: true,
                pull: false,
                merged: false,
                created: time,
                updated: time,
                closed: None,
                comments: 0,
                user: USERS[0],
            },
        );
        number
    }

    /// A random new text of an issue or comment (for mutations).
    pub fn random_text(&mut self) -> String {
        let r = self.rng.random::<u64>();
        issue_body(self.cfg.seed, r, r)
    }

    /// Paths of regular files of the head (what mutations pick from).
    pub fn regular_paths(&self) -> Vec<String> {
        self.head_commit()
            .files
            .iter()
            .filter(|(_, e)| matches!(e.mode, Mode::File | Mode::Exec))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// A path not in the head, in an existing directory.
    pub fn fresh_path(&mut self, like: Option<&str>) -> String {
        let rev = self.next_rev;
        let h = self.rng.random::<u64>();
        let dir = like
            .and_then(|p| p.rsplit_once('/'))
            .map_or("src/new", |(d, _)| d)
            .to_owned();
        let ext = like
            .and_then(|p| p.rsplit_once('.'))
            .map_or("rs", |(_, e)| e)
            .to_owned();
        format!("{dir}/{}-{rev}-{}.{ext}", word(h), h % 1000)
    }
}

fn issue_body(seed: u64, number: u64, version: u64) -> String {
    let mut rng = StdRng::seed_from_u64(mix64(seed ^ mix64(number) ^ version.rotate_left(17)));
    let n = rng.random_range(8..40);
    let words: Vec<&str> = (0..n)
        .map(|_| *WORDS.choose(&mut rng).unwrap_or(&"x"))
        .collect();
    format!("{}\n\n- [ ] {}\n", words.join(" "), word(rng.random()))
}

fn comment_body(seed: u64, i: u64, version: u64) -> String {
    issue_body(seed ^ 0xc0, i, version)
}
