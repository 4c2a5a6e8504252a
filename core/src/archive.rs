//! Archive members (contract 0.2 `blob-ref.member`): a downloaded tar.gz is
//! unpacked streaming into the content-addressed blob directory, and its
//! regular files are indexed by their path below the archive's one top-level
//! directory (GitHub wraps a tarball in `owner-repo-sha/`).
//!
//! The archive is hostile input: no path of it ever reaches the file system
//! (members are stored under their sha256 only); links, devices, directories,
//! absolute paths and paths with `.`, `..` or empty segments are ignored (so
//! a record naming one finds nothing); the unpacked bytes, each member's
//! size, the number of members and the metadata the tar reader keeps in
//! memory (long names, pax headers) are bounded.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

/// Members an archive may index (the map of one run holds them all).
pub const MAX_MEMBERS: usize = 500_000;
/// Bytes the tar reader may read between two entries: headers, padding and
/// the long names and pax records it keeps in memory.
const MAX_ENTRY_METADATA: u64 = 1 << 20;

/// Bounds of one unpacking.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A larger member is not stored (records naming it fail).
    pub max_member_bytes: u64,
    /// Bytes all members together may unpack to; past it the archive fails.
    pub max_unpacked_bytes: u64,
    /// Regular-file members indexed, at most; past it the archive fails.
    pub max_members: usize,
}

/// A stored member: where its content is, as a downloaded blob would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// sha256 (hex) of the content.
    pub hash: String,
    pub size: u64,
    /// Relative to the blob directory (`ab/abcdef…`).
    pub path: String,
}

/// Member path → the stored member, or why it was not stored.
pub type Index = HashMap<String, Result<Member, String>>;

/// Unpacks the tar.gz at `archive` into `blob_dir` (temporary files under
/// `blob_dir/tmp`). The error says why the whole archive is unusable.
pub fn unpack(archive: &Path, blob_dir: &Path, limits: &Limits) -> Result<Index, String> {
    let file = File::open(archive).map_err(|e| format!("cannot open the archive: {e}"))?;
    let meter = Meter::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let (read, allowed) = (meter.read.clone(), meter.allowed.clone());
    let mut tar = tar::Archive::new(meter);
    let mut index = Index::new();
    let mut prefix: Option<Vec<u8>> = None;
    let mut unpacked = 0u64;
    let mut entries = tar.entries().map_err(|e| malformed(&e))?;
    loop {
        allowed.set(read.get().saturating_add(MAX_ENTRY_METADATA));
        let Some(entry) = entries.next() else { break };
        let mut entry = entry.map_err(|e| malformed(&e))?;
        let size = entry.size();
        let kind = entry.header().entry_type();
        let name = entry.path_bytes().into_owned();
        // Whatever the entry is, its data is read here, within its own size,
        // and counts: skipped data costs the same to decompress.
        allowed.set(read.get().saturating_add(size));
        unpacked = unpacked.saturating_add(size);
        if unpacked > limits.max_unpacked_bytes {
            return Err(format!(
                "the archive unpacks to more than {} MB",
                limits.max_unpacked_bytes >> 20
            ));
        }
        let regular = kind.is_file() || kind == tar::EntryType::Continuous;
        let Some(key) = regular.then(|| member_key(&name, &mut prefix)).flatten() else {
            io::copy(&mut entry, &mut io::sink()).map_err(|e| malformed(&e))?;
            continue;
        };
        if index.len() >= limits.max_members && !index.contains_key(&key) {
            return Err(format!(
                "the archive has more than {} files",
                limits.max_members
            ));
        }
        let member = if size > limits.max_member_bytes {
            io::copy(&mut entry, &mut io::sink()).map_err(|e| malformed(&e))?;
            Err(format!(
                "archive member of {size} bytes is over the limit of {} MB",
                limits.max_member_bytes >> 20
            ))
        } else {
            Ok(store(&mut entry, blob_dir)?)
        };
        // A later entry of the same path replaces the earlier one, as tar does.
        index.insert(key, member);
    }
    Ok(index)
}

/// The member's lookup path: `name` without its first segment, which must
/// be the same for every member (`prefix`, set by the first). None for a
/// name that is not a plain relative path below that one directory.
fn member_key(name: &[u8], prefix: &mut Option<Vec<u8>>) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let name = name.strip_suffix('/').unwrap_or(name);
    let mut segments = name.split('/');
    let top = segments.next()?.as_bytes();
    let rest: Vec<&str> = segments.collect();
    if [top]
        .into_iter()
        .chain(rest.iter().map(|s| s.as_bytes()))
        .any(|s| s.is_empty() || s == b"." || s == b".." || s.contains(&0))
    {
        return None;
    }
    if prefix.get_or_insert_with(|| top.to_vec()) != top || rest.is_empty() {
        return None;
    }
    Some(rest.join("/"))
}

/// Streams `content` to a temporary file while hashing it, then moves it to
/// its content-addressed place.
fn store(content: &mut impl Read, blob_dir: &Path) -> Result<Member, String> {
    let temp = TempPath::new(blob_dir).map_err(|e| format!("cannot store a member: {e}"))?;
    let mut file = File::create(&temp.0).map_err(|e| format!("cannot store a member: {e}"))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = content.read(&mut buf).map_err(|e| malformed(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| format!("cannot store a member: {e}"))?;
        size += n as u64;
    }
    drop(file);
    let hash = hex::encode(hasher.finalize());
    let path =
        place(blob_dir, &temp.0, &hash).map_err(|e| format!("cannot store a member: {e}"))?;
    Ok(Member { hash, size, path })
}

/// Moves the finished file `temp` to `blob_dir/ab/abcdef…` (sha256 `hash`)
/// and returns that path relative to `blob_dir`. An existing file is kept:
/// same hash, same bytes.
pub fn place(blob_dir: &Path, temp: &Path, hash: &str) -> io::Result<String> {
    let relative = Path::new(&hash[..2]).join(hash);
    let target = blob_dir.join(&relative);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if !target.exists() {
        std::fs::rename(temp, &target)?;
    }
    Ok(relative.to_string_lossy().into_owned())
}

/// A fresh temporary file name under `blob_dir/tmp`, removed when dropped
/// (gone already when it was moved into place). `tmp/` is swept too.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(blob_dir: &Path) -> io::Result<TempPath> {
        let dir = blob_dir.join("tmp");
        std::fs::create_dir_all(&dir)?;
        Ok(TempPath(dir.join(format!(
            "{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ))))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn malformed(error: &io::Error) -> String {
    format!("the archive is malformed: {error}")
}

/// The decompressed stream, refusing to be read past `allowed` bytes: the
/// caller moves the mark before each entry (its metadata) and before its
/// data (its size), so nothing the tar reader buffers grows unbounded.
struct Meter<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    allowed: Rc<Cell<u64>>,
}

impl<R> Meter<R> {
    fn new(inner: R) -> Meter<R> {
        Meter {
            inner,
            read: Rc::default(),
            allowed: Rc::default(),
        }
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.allowed.get().saturating_sub(self.read.get());
        if left == 0 && !buf.is_empty() {
            return Err(io::Error::other(format!(
                "an entry's header data is over {} KiB",
                MAX_ENTRY_METADATA >> 10
            )));
        }
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_member_bytes: 1 << 20,
            max_unpacked_bytes: 4 << 20,
            max_members: 100,
        }
    }

    /// A tar.gz of `entries` (path, type, data, link target), written with
    /// raw headers so hostile names survive.
    fn archive(dir: &Path, entries: &[(&str, tar::EntryType, &[u8], &str)]) -> PathBuf {
        let path = dir.join("a.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(gz);
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Bypasses the builder's path checks: archives may hold anything.
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        path
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    #[test]
    fn members_are_stored_content_addressed_below_the_top_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = tar::EntryType::Regular;
        let long = format!("top/{}/deep.txt", "d".repeat(150));
        let a = archive(
            dir.path(),
            &[
                ("pax_global_header", tar::EntryType::XGlobalHeader, b"", ""),
                ("top/", tar::EntryType::Directory, b"", ""),
                ("top/a.txt", file, b"alpha", ""),
                ("top/sub/b.bin", file, b"\0beta", ""),
                ("top/same.txt", file, b"alpha", ""),
            ],
        );
        let blobs = dir.path().join("blobs");
        let index = unpack(&a, &blobs, &limits()).unwrap();
        let a_txt = index["a.txt"].as_ref().unwrap();
        assert_eq!(a_txt.hash, sha(b"alpha"));
        assert_eq!(a_txt.size, 5);
        assert_eq!(
            std::fs::read(blobs.join(&a_txt.path)).unwrap(),
            b"alpha",
            "stored at its content address"
        );
        assert_eq!(index["sub/b.bin"].as_ref().unwrap().hash, sha(b"\0beta"));
        assert_eq!(index["same.txt"], index["a.txt"]);
        assert_eq!(index.len(), 3, "{:?}", index.keys());
        assert!(!blobs.join("top").exists() && !blobs.join("a.txt").exists());
        assert_eq!(std::fs::read_dir(blobs.join("tmp")).unwrap().count(), 0);

        // A long name (a GNU long-name entry) is found by its whole path.
        let a = dir.path().join("long-name.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            File::create(&a).unwrap(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        builder
            .append_data(&mut header, &long, &b"deep"[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let index = unpack(&a, &blobs, &limits()).unwrap();
        assert_eq!(
            index[&long["top/".len()..]].as_ref().unwrap().hash,
            sha(b"deep")
        );
    }

    #[test]
    fn hostile_members_are_not_found_and_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        let file = tar::EntryType::Regular;
        let a = archive(
            dir.path(),
            &[
                ("top/ok.txt", file, b"ok", ""),
                ("top/../escape.txt", file, b"dotdot", ""),
                ("/etc/abs.txt", file, b"absolute", ""),
                ("top//double.txt", file, b"empty segment", ""),
                ("top/./dot.txt", file, b"dot", ""),
                ("top/link", tar::EntryType::Symlink, b"", "/etc/passwd"),
                ("top/hard", tar::EntryType::Link, b"", "top/ok.txt"),
                ("top/dev", tar::EntryType::Char, b"", ""),
                ("top/fifo", tar::EntryType::Fifo, b"", ""),
                ("other/ok.txt", file, b"second top directory", ""),
                ("other/new.txt", file, b"second top directory", ""),
            ],
        );
        let index = unpack(&a, &blobs, &limits()).unwrap();
        let keys: Vec<&String> = index.keys().collect();
        assert_eq!(keys, vec!["ok.txt"]);
        assert_eq!(index["ok.txt"].as_ref().unwrap().hash, sha(b"ok"));
        assert!(!dir.path().join("escape.txt").exists());
        // Only the content-addressed file of `ok.txt` was written.
        let shards: Vec<_> = std::fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "tmp")
            .collect();
        assert_eq!(shards, vec![sha(b"ok")[..2].to_string()]);
    }

    #[test]
    fn bombs_and_oversized_members_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        let file = tar::EntryType::Regular;
        let big = vec![0u8; (1 << 20) + 1];
        let a = archive(
            dir.path(),
            &[("top/big", file, &big, ""), ("top/small", file, b"s", "")],
        );
        let index = unpack(&a, &blobs, &limits()).unwrap();
        assert!(index["big"]
            .as_ref()
            .unwrap_err()
            .contains("over the limit"));
        assert!(index["small"].is_ok());

        // Zeros compress a thousandfold: the unpacked total is what counts.
        let chunk = vec![0u8; 1 << 20];
        let many: Vec<(String, Vec<u8>)> = (0..6)
            .map(|i| (format!("top/{i}"), chunk.clone()))
            .collect();
        let entries: Vec<_> = many
            .iter()
            .map(|(n, d)| (n.as_str(), file, d.as_slice(), ""))
            .collect();
        let a = archive(dir.path(), &entries);
        assert!(std::fs::metadata(&a).unwrap().len() < 100 << 10);
        let err = unpack(&a, &blobs, &limits()).unwrap_err();
        assert!(err.contains("unpacks to more than 4 MB"), "{err}");

        let mut few = limits();
        few.max_members = 3;
        let err = unpack(&a, &blobs, &few).unwrap_err();
        assert!(err.contains("more than 3 files"), "{err}");

        // A long name of 2 MiB would be read into memory: refused.
        let a = dir.path().join("long.tar.gz");
        let mut gz =
            flate2::write::GzEncoder::new(File::create(&a).unwrap(), flate2::Compression::fast());
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(2 << 20);
        header.set_cksum();
        gz.write_all(header.as_bytes()).unwrap();
        gz.write_all(&vec![b'a'; 2 << 20]).unwrap();
        gz.finish().unwrap();
        let err = unpack(&a, &blobs, &limits()).unwrap_err();
        assert!(err.contains("header data is over 1024 KiB"), "{err}");

        assert!(unpack(&dir.path().join("none"), &blobs, &limits()).is_err());
        std::fs::write(&a, b"not gzip").unwrap();
        assert!(unpack(&a, &blobs, &limits())
            .unwrap_err()
            .contains("malformed"));
    }
}
