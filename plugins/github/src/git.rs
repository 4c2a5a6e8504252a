//! Git's own values, computed without a crate: blob shas (so a push can tell
//! whether a file holds our content) and path globs (the `paths` setting).

/// A `paths` glob: `*` and `?` within one path segment, `**` across
/// segments (`docs/**`, `**/*.md`). Anchored at the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.trim_start_matches('/').to_owned())
    }

    pub fn matches(&self, path: &str) -> bool {
        glob(self.0.as_bytes(), path.as_bytes())
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => {
            // `**/` also matches no directory at all.
            if let [b'/', after @ ..] = rest {
                if glob(after, s) {
                    return true;
                }
            }
            (0..=s.len()).any(|i| glob(rest, &s[i..]))
        }
        [b'*', rest @ ..] => {
            let segment = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
            (0..=segment).any(|i| glob(rest, &s[i..]))
        }
        [b'?', rest @ ..] => matches!(s, [c, tail @ ..] if *c != b'/' && glob(rest, tail)),
        [c, rest @ ..] => matches!(s, [d, tail @ ..] if c == d && glob(rest, tail)),
    }
}

/// The blob sha git gives `content`: SHA-1 of `blob <len>\0<content>`.
pub fn blob_sha(content: &[u8]) -> String {
    let mut data = format!("blob {}\0", content.len()).into_bytes();
    data.extend_from_slice(content);
    sha1(&data).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_shas_are_gits() {
        // `git hash-object` of an empty file and of "hello\n".
        assert_eq!(blob_sha(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(
            blob_sha(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // The contents sample of the contracts: "Content of the blob" is 19 bytes.
        assert_eq!(blob_sha(&[b'x'; 100]).len(), 40);
        // Padding at the block boundaries.
        let lens = [55, 56, 63, 64, 65];
        let shas: Vec<String> = lens.iter().map(|&n| blob_sha(&vec![b'a'; n])).collect();
        assert_eq!(
            shas.iter().collect::<std::collections::HashSet<_>>().len(),
            5
        );
        assert_eq!(
            sha1(b"abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn globs() {
        let yes = [
            ("*.md", "README.md"),
            ("docs/**", "docs/a/b/c.txt"),
            ("**/*.md", "README.md"),
            ("**/*.md", "a/b/notes.md"),
            ("src/?.rs", "src/a.rs"),
            ("/src/*", "src/x"),
            ("a/**/b", "a/b"),
            ("a/**/b", "a/x/y/b"),
        ];
        for (p, s) in yes {
            assert!(Glob::new(p).matches(s), "{p} {s}");
        }
        let no = [
            ("*.md", "docs/README.md"),
            ("src/?.rs", "src/ab.rs"),
            ("src/*", "src/a/b"),
            ("docs/**", "doc/x"),
            ("a?b", "a/b"),
        ];
        for (p, s) in no {
            assert!(!Glob::new(p).matches(s), "{p} {s}");
        }
    }
}
