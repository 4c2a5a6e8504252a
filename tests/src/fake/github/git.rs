//! Git objects as git computes them: SHA-1 object ids of blobs
//! (`blob <len>\0` + bytes), trees and commits; tree listings in git's order;
//! the tar.gz and zip archives of a tree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A git object id.
pub type Oid = [u8; 20];

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A 40-digit hex object id (either case).
pub fn parse_oid(s: &str) -> Option<Oid> {
    if s.len() != 40 {
        return None;
    }
    let mut oid = [0u8; 20];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        oid[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(oid)
}

/// SHA-1 (FIPS 180-4), enough for object ids.
pub struct Sha1 {
    state: [u32; 5],
    buf: Vec<u8>,
    len: u64,
}

impl Default for Sha1 {
    fn default() -> Self {
        Sha1 {
            state: [
                0x6745_2301,
                0xefcd_ab89,
                0x98ba_dcfe,
                0x1032_5476,
                0xc3d2_e1f0,
            ],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }
}

impl Sha1 {
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 64 {
                let block: [u8; 64] = self.buf[..].try_into().unwrap_or([0; 64]);
                self.block(&block);
                self.buf.clear();
            }
        }
        let mut chunks = data.chunks_exact(64);
        for chunk in &mut chunks {
            let block: [u8; 64] = chunk.try_into().unwrap_or([0; 64]);
            self.block(&block);
        }
        self.buf.extend_from_slice(chunks.remainder());
    }

    pub fn finish(mut self) -> Oid {
        let bits = self.len.wrapping_mul(8);
        let mut tail = vec![0x80u8];
        while (self.buf.len() + tail.len()) % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bits.to_be_bytes());
        let len = self.len;
        self.update(&tail);
        self.len = len;
        let mut out = [0u8; 20];
        for (i, w) in self.state.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    fn block(&mut self, block: &[u8; 64]) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    }
}

/// The id git gives an object of `kind` ("blob", "tree", "commit").
pub fn object_id(kind: &str, body: &[u8]) -> Oid {
    let mut h = Sha1::default();
    h.update(format!("{kind} {}\0", body.len()).as_bytes());
    h.update(body);
    h.finish()
}

/// What a tree entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    File,
    Exec,
    Symlink,
    /// A gitlink: the oid is a commit of another repository.
    Submodule,
    Tree,
}

impl Mode {
    /// As the REST API writes it (`040000` for trees).
    pub fn api(self) -> &'static str {
        match self {
            Mode::File => "100644",
            Mode::Exec => "100755",
            Mode::Symlink => "120000",
            Mode::Submodule => "160000",
            Mode::Tree => "040000",
        }
    }

    /// As a tree object stores it (`40000` for trees).
    fn raw(self) -> &'static str {
        match self {
            Mode::Tree => "40000",
            m => m.api(),
        }
    }

    /// The REST API's `type`.
    pub fn kind(self) -> &'static str {
        match self {
            Mode::Tree => "tree",
            Mode::Submodule => "commit",
            _ => "blob",
        }
    }

    /// True for blobs (files, executables, symlinks).
    pub fn is_blob(self) -> bool {
        self.kind() == "blob"
    }
}

/// A path of a commit's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub mode: Mode,
    pub oid: Oid,
}

/// Every path of a commit (no trees), by path.
pub type Snapshot = BTreeMap<String, Entry>;

/// One entry of a tree object.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub name: String,
    pub mode: Mode,
    pub oid: Oid,
}

/// A tree object: its entries in git's order.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub entries: Vec<TreeEntry>,
}

#[derive(Default)]
struct Dir<'a> {
    files: Vec<(&'a str, Entry)>,
    dirs: BTreeMap<&'a str, Dir<'a>>,
}

/// Builds the tree objects of `snapshot`; calls `keep` with each (subtrees
/// first) and returns the root tree's id.
pub fn build_trees(snapshot: &Snapshot, keep: &mut dyn FnMut(Oid, Tree)) -> Oid {
    let mut root = Dir::default();
    for (path, entry) in snapshot {
        let mut dir = &mut root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                dir.files.push((part, *entry));
            } else {
                dir = dir.dirs.entry(part).or_default();
            }
        }
    }
    fn write(dir: &Dir<'_>, keep: &mut dyn FnMut(Oid, Tree)) -> Oid {
        let mut entries: Vec<TreeEntry> = dir
            .files
            .iter()
            .map(|(name, e)| TreeEntry {
                name: (*name).to_owned(),
                mode: e.mode,
                oid: e.oid,
            })
            .collect();
        for (name, sub) in &dir.dirs {
            entries.push(TreeEntry {
                name: (*name).to_owned(),
                mode: Mode::Tree,
                oid: write(sub, keep),
            });
        }
        // git orders a tree's entries by name, a subtree's name as if it ended in '/'.
        let key = |e: &TreeEntry| {
            let mut k = e.name.as_bytes().to_vec();
            if e.mode == Mode::Tree {
                k.push(b'/');
            }
            k
        };
        entries.sort_by_key(key);
        let mut body = Vec::new();
        for e in &entries {
            body.extend_from_slice(e.mode.raw().as_bytes());
            body.push(b' ');
            body.extend_from_slice(e.name.as_bytes());
            body.push(0);
            body.extend_from_slice(&e.oid);
        }
        let oid = object_id("tree", &body);
        keep(oid, Tree { entries });
        oid
    }
    write(&root, keep)
}

/// A commit's identity fields, as `git cat-file commit` shows them.
pub fn commit_body(tree: &Oid, parents: &[Oid], time: i64, message: &str) -> Vec<u8> {
    let mut s = format!("tree {}\n", hex(tree));
    for p in parents {
        let _ = writeln!(s, "parent {}", hex(p));
    }
    let who = format!("{AUTHOR_NAME} <{AUTHOR_EMAIL}> {time} +0000");
    let _ = write!(s, "author {who}\ncommitter {who}\n\n{message}\n");
    s.into_bytes()
}

/// Who makes the fake's commits.
pub const AUTHOR_NAME: &str = "Synchost Fake";
pub const AUTHOR_EMAIL: &str = "fake@synchost.invalid";

/// A file of an archive.
pub struct ArchiveFile<'a> {
    pub path: &'a str,
    pub mode: Mode,
    /// Contents; a symlink's target.
    pub bytes: &'a [u8],
}

/// `git archive --format=tar` of these entries under `prefix/`, with the
/// pax global header carrying the commit id, gzip-wrapped (stored deflate
/// blocks: valid gzip, no compression). Submodules are empty directories.
pub fn tar_gz(prefix: &str, commit: &Oid, files: &[ArchiveFile<'_>], time: i64) -> Vec<u8> {
    let mut tar = Vec::new();
    let comment = format!("52 comment={}\n", hex(commit));
    tar_header(
        &mut tar,
        "pax_global_header",
        b'g',
        0o666,
        comment.len(),
        "",
        time,
    );
    tar.extend_from_slice(comment.as_bytes());
    pad512(&mut tar);
    tar_header(&mut tar, &format!("{prefix}/"), b'5', 0o775, 0, "", time);
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        let mut end = 0;
        while let Some(i) = f.path[end..].find('/') {
            end += i;
            let dir = &f.path[..end];
            if dirs.insert(dir.to_owned()) {
                tar_header(
                    &mut tar,
                    &format!("{prefix}/{dir}/"),
                    b'5',
                    0o775,
                    0,
                    "",
                    time,
                );
            }
            end += 1;
        }
        let path = format!("{prefix}/{}", f.path);
        match f.mode {
            Mode::Symlink => {
                let target = String::from_utf8_lossy(f.bytes);
                tar_header(&mut tar, &path, b'2', 0o777, 0, &target, time);
            }
            Mode::Submodule | Mode::Tree => {
                tar_header(&mut tar, &format!("{path}/"), b'5', 0o775, 0, "", time);
            }
            Mode::File | Mode::Exec => {
                let perm = if f.mode == Mode::Exec { 0o775 } else { 0o664 };
                tar_header(&mut tar, &path, b'0', perm, f.bytes.len(), "", time);
                tar.extend_from_slice(f.bytes);
                pad512(&mut tar);
            }
        }
    }
    tar.extend_from_slice(&[0u8; 1024]);
    gzip_stored(&tar)
}

fn pad512(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// A ustar header; names over 100 bytes go in the prefix field (split at
/// a '/'), as ustar allows up to 255 bytes.
fn tar_header(
    out: &mut Vec<u8>,
    name: &str,
    kind: u8,
    mode: u32,
    size: usize,
    link: &str,
    time: i64,
) {
    let mut h = [0u8; 512];
    let (prefix, name) = match name.len() {
        0..=100 => ("", name),
        _ => {
            let cut = name[..name.len().min(156)]
                .rfind('/')
                .filter(|i| name.len() - i - 1 <= 100)
                .unwrap_or(0);
            (&name[..cut], &name[cut + 1..])
        }
    };
    let put = |h: &mut [u8; 512], at: usize, len: usize, v: &[u8]| {
        let n = v.len().min(len);
        h[at..at + n].copy_from_slice(&v[..n]);
    };
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, 8, b"0000000\0");
    put(&mut h, 116, 8, b"0000000\0");
    put(&mut h, 124, 12, format!("{size:011o}\0").as_bytes());
    put(
        &mut h,
        136,
        12,
        format!("{:011o}\0", time.max(0)).as_bytes(),
    );
    h[148..156].copy_from_slice(b"        ");
    h[156] = kind;
    put(&mut h, 157, 100, link.as_bytes());
    put(&mut h, 257, 8, b"ustar\x0000");
    put(&mut h, 265, 32, b"root");
    put(&mut h, 297, 32, b"root");
    put(&mut h, 345, 155, prefix.as_bytes());
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
}

/// gzip (RFC 1952) of `data` in stored deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A zip archive (stored, no compression) of these entries under `prefix/`,
/// with the commit id as the archive comment, as `git archive --format=zip`.
pub fn zip(prefix: &str, commit: &Oid, files: &[ArchiveFile<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut count: u16 = 0;
    let mut add = |out: &mut Vec<u8>, name: &str, bytes: &[u8], unix_mode: u32| {
        let crc = crc32fast::hash(bytes);
        let offset = out.len() as u32;
        let fields = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central {
                h.extend_from_slice(&0x031eu16.to_le_bytes()); // made by: unix
            }
            h.extend_from_slice(&10u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // dos time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            h.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
                h.extend_from_slice(&(unix_mode << 16).to_le_bytes());
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend_from_slice(&fields(0x0403_4b50, false));
        out.extend_from_slice(bytes);
        central.extend_from_slice(&fields(0x0201_4b50, true));
        count += 1;
    };
    add(&mut out, &format!("{prefix}/"), b"", 0o40775);
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        let mut end = 0;
        while let Some(i) = f.path[end..].find('/') {
            end += i;
            if dirs.insert(f.path[..end].to_owned()) {
                add(
                    &mut out,
                    &format!("{prefix}/{}/", &f.path[..end]),
                    b"",
                    0o40775,
                );
            }
            end += 1;
        }
        let path = format!("{prefix}/{}", f.path);
        match f.mode {
            Mode::Symlink => add(&mut out, &path, f.bytes, 0o120777),
            Mode::Submodule | Mode::Tree => add(&mut out, &format!("{path}/"), b"", 0o40775),
            Mode::Exec => add(&mut out, &path, f.bytes, 0o100775),
            Mode::File => add(&mut out, &path, f.bytes, 0o100664),
        }
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    let comment = hex(commit);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment.as_bytes());
    out
}

/// Base64 with a line break after every 60 characters, the last line
/// included, as GitHub writes blob and file contents.
pub fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for line in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_git() {
        // `git hash-object /dev/null` and `echo hello | git hash-object --stdin`.
        assert_eq!(
            hex(&object_id("blob", b"")),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            hex(&object_id("blob", b"hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // The empty tree.
        assert_eq!(
            hex(&object_id("tree", b"")),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        let mut h = Sha1::default();
        let long = vec![b'a'; 1_000_000];
        for part in long.chunks(777) {
            h.update(part);
        }
        assert_eq!(hex(&h.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn trees_match_git() {
        // `mkdir d && echo hello > d/a && printf x > b && git add . && git write-tree`.
        let mut s = Snapshot::new();
        let file = |bytes: &[u8]| Entry {
            mode: Mode::File,
            oid: object_id("blob", bytes),
        };
        s.insert("d/a".into(), file(b"hello\n"));
        s.insert("b".into(), file(b"x"));
        let mut trees = Vec::new();
        let root = build_trees(&s, &mut |oid, t| trees.push((oid, t)));
        assert_eq!(hex(&trees[0].0), "0976950c1fdbcb52435a433913017bf044b3a58f");
        assert_eq!(hex(&root), "a5c18c1818bbcfa6424585e78dbd351c07afab46");
        let names: Vec<&str> = trees[1].1.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "d"]);
    }

    #[test]
    fn base64_breaks_lines_at_60() {
        let text = base64_lines(&[7u8; 100]);
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [60, 60, 16]
        );
        assert!(text.ends_with('\n'));
    }
}
