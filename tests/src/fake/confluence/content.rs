//! Deterministic content of the Confluence fake: titles, file names, users,
//! page and comment bodies (storage, atlas_doc_format and view renderings of
//! one generated document) and attachment bytes. Everything is a pure
//! function of the seed and the entity's id and version.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

pub use crate::fake::words::mix64;
use crate::fake::words::WORDS;

/// A seed for `(seed, salt, id, version)`.
pub fn mix(seed: u64, salt: u64, id: u64, version: u64) -> u64 {
    mix64(mix64(mix64(mix64(seed) ^ salt) ^ id) ^ version)
}

pub fn rng_for(seed: u64, salt: u64, id: u64, version: u64) -> StdRng {
    StdRng::seed_from_u64(mix(seed, salt, id, version))
}

const TOPICS: &[&str] = &[
    "Runbook",
    "Design",
    "Meeting notes",
    "Retrospective",
    "Architecture",
    "Onboarding",
    "FAQ",
    "Release notes",
    "How-to",
    "Postmortem",
    "Roadmap",
    "Checklist",
    "Glossary",
    "Decision log",
    "Requirements",
    "Troubleshooting",
];

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A plain title: a topic or a capitalised word, then one to three words.
pub fn plain_title(rng: &mut StdRng) -> String {
    let mut t = if rng.random_bool(0.4) {
        TOPICS[rng.random_range(0..TOPICS.len())].to_owned()
    } else {
        capitalised(word(rng))
    };
    for _ in 0..rng.random_range(1..=3) {
        t.push(' ');
        t.push_str(word(rng));
    }
    t
}

/// A title, sometimes awkward for file systems: `/`, `:`, `?`, `*`, `|`,
/// `<>`, `"`, `\`, trailing dots or a trailing space, reserved Windows
/// names, unicode (accents, CJK, emoji), or very long (up to 255 chars, more
/// than 255 bytes in UTF-8).
pub fn page_title(rng: &mut StdRng) -> String {
    let base = plain_title(rng);
    let w = capitalised(word(rng));
    match rng.random_range(0..1000) {
        0..=29 => format!("{base}/{w}"),
        30..=54 => format!("{w}: {base}"),
        55..=74 => format!("Why {}?", base.to_lowercase()),
        75..=89 => format!("{base}..."),
        90..=99 => format!("{base}."),
        100..=104 => format!("{base} "),
        105..=119 => format!("Überblick {base}"),
        120..=129 => format!("日本語ドキュメント {base}"),
        130..=139 => format!("🚀 {base}"),
        140..=149 => format!("Café & crème: {base}"),
        150..=154 => format!("\"{w}\" <draft> | {base}"),
        155..=159 => format!("C:\\{w}\\{base} *"),
        160..=162 => ["CON", "aux", "NUL", "com1", "PRN"][rng.random_range(0..5)].to_owned(),
        163..=165 => {
            let mut t = String::from("Ωmega ");
            while t.chars().count() < 240 {
                t.push_str("ünïcödé ");
                t.push_str(word(rng));
                t.push(' ');
            }
            t.chars()
                .take(255)
                .collect::<String>()
                .trim_end()
                .to_owned()
        }
        166..=170 => format!("{w}%20{base}#{}", rng.random_range(1..99)),
        _ => base,
    }
}

/// A blog post title.
pub fn blog_title(rng: &mut StdRng) -> String {
    match rng.random_range(0..100) {
        0..=29 => format!("Weekly update: {}", plain_title(rng)),
        30..=39 => format!("Announcing {}", page_title(rng)),
        _ => page_title(rng),
    }
}

/// A folder title.
pub fn folder_title(rng: &mut StdRng) -> String {
    match rng.random_range(0..100) {
        0..=14 => format!("Team {}", capitalised(word(rng))),
        15..=24 => format!("{}", rng.random_range(2019..=2025)),
        25..=29 => "Archive".to_owned(),
        30..=34 => format!("{}/{}", capitalised(word(rng)), word(rng)),
        35..=37 => format!("Projekte – {}", capitalised(word(rng))),
        38..=39 => format!("{}.", capitalised(word(rng))),
        _ => format!("{} {}", capitalised(word(rng)), word(rng)),
    }
}

/// What an attachment is: extension, media type and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaKind {
    pub ext: &'static str,
    pub media_type: &'static str,
    pub description: &'static str,
}

pub const MEDIA: &[MediaKind] = &[
    MediaKind {
        ext: "png",
        media_type: "image/png",
        description: "PNG Image",
    },
    MediaKind {
        ext: "pdf",
        media_type: "application/pdf",
        description: "PDF Document",
    },
    MediaKind {
        ext: "txt",
        media_type: "text/plain",
        description: "Text File",
    },
    MediaKind {
        ext: "csv",
        media_type: "text/csv",
        description: "CSV File",
    },
    MediaKind {
        ext: "jpg",
        media_type: "image/jpeg",
        description: "JPEG Image",
    },
    MediaKind {
        ext: "zip",
        media_type: "application/zip",
        description: "Zip Archive",
    },
    MediaKind {
        ext: "docx",
        media_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        description: "Microsoft Word Document",
    },
    MediaKind {
        ext: "json",
        media_type: "application/json",
        description: "JSON File",
    },
];

/// A file name stem (no extension): common names that repeat across pages
/// (`image`, `screenshot`), and some awkward ones (spaces, `#`, `%`, `+`,
/// unicode, a leading dot).
pub fn file_stem(rng: &mut StdRng) -> String {
    match rng.random_range(0..100) {
        0..=14 => "image".to_owned(),
        15..=24 => format!("screenshot {}", rng.random_range(1..30)),
        25..=29 => format!("Q{} report (final)", rng.random_range(1..=4)),
        30..=32 => format!("résumé-{}", word(rng)),
        33..=34 => format!("build #{}", rng.random_range(1..500)),
        35..=36 => format!("100% {}", word(rng)),
        37..=38 => format!("c++ {}", word(rng)),
        39 => ".hidden".to_owned(),
        40..=41 => format!("図 {}", rng.random_range(1..9)),
        _ => format!("{}-{}", word(rng), rng.random_range(1..100)),
    }
}

/// The fake users: (account id, display name).
pub const USERS: &[(&str, &str)] = &[
    (
        "712020:6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "Ada Lovelace",
    ),
    (
        "712020:0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
        "Grace Hopper",
    ),
    (
        "557058:f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "Linus Torvalds",
    ),
    (
        "712020:11223344-5566-4778-8899-aabbccddeeff",
        "Margaret Hamilton",
    ),
    ("5b10ac8d82e05b22cc7d4ef5", "Ken Thompson"),
];

// ---------------------------------------------------------------------------
// Documents

/// One generated document in the three renderings the fake serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Storage format (XHTML with `ac:`/`ri:` elements).
    pub storage: String,
    /// atlas_doc_format: the ADF document as a JSON string.
    pub adf: String,
    /// A rendered HTML view (`view`, `export_view`, ...).
    pub view: String,
}

fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    xml_escape(s, &mut out);
    out
}

/// A sentence, sometimes with characters that need escaping.
fn sentence(rng: &mut StdRng) -> String {
    let n = rng.random_range(5..=14);
    let mut s = capitalised(word(rng));
    for _ in 1..n {
        s.push(' ');
        match rng.random_range(0..60) {
            0 => s.push_str("R&D"),
            1 => s.push_str("<b>not bold</b>"),
            2 => s.push_str("naïve"),
            3 => s.push('→'),
            4 => s.push_str("\"quoted\""),
            _ => s.push_str(word(rng)),
        }
    }
    s.push('.');
    s
}

struct Builder {
    storage: String,
    view: String,
    adf: Vec<Value>,
}

impl Builder {
    fn heading(&mut self, level: u8, text: &str) {
        let t = esc(text);
        self.storage.push_str(&format!("<h{level}>{t}</h{level}>"));
        self.view
            .push_str(&format!("<h{level} id=\"{}\">{t}</h{level}>", anchor(text)));
        self.adf.push(json!({"type":"heading","attrs":{"level":level},"content":[{"type":"text","text":text}]}));
    }

    fn paragraph(&mut self, text: &str, strong: Option<&str>) {
        let mut s = String::from("<p>");
        xml_escape(text, &mut s);
        let mut content = vec![json!({"type":"text","text":text})];
        if let Some(b) = strong {
            s.push_str(" <strong>");
            xml_escape(b, &mut s);
            s.push_str("</strong>");
            content.push(json!({"type":"text","text":" "}));
            content.push(json!({"type":"text","text":b,"marks":[{"type":"strong"}]}));
        }
        s.push_str("</p>");
        self.view.push_str(&s);
        self.storage.push_str(&s);
        self.adf.push(json!({"type":"paragraph","content":content}));
    }

    fn bullets(&mut self, items: &[String]) {
        let mut s = String::from("<ul>");
        for it in items {
            s.push_str("<li><p>");
            xml_escape(it, &mut s);
            s.push_str("</p></li>");
        }
        s.push_str("</ul>");
        self.storage.push_str(&s);
        self.view.push_str(&s);
        let content: Vec<Value> = items
            .iter()
            .map(|it| json!({"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":it}]}]}))
            .collect();
        self.adf
            .push(json!({"type":"bulletList","content":content}));
    }

    fn code(&mut self, lang: &str, code: &str) {
        self.storage.push_str(&format!(
            "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">{lang}</ac:parameter><ac:plain-text-body><![CDATA[{code}]]></ac:plain-text-body></ac:structured-macro>"
        ));
        self.view.push_str(&format!(
            "<div class=\"code panel\"><pre class=\"syntaxhighlighter-pre\" data-syntaxhighlighter-params=\"brush: {lang}\">{}</pre></div>",
            esc(code)
        ));
        self.adf.push(json!({"type":"codeBlock","attrs":{"language":lang},"content":[{"type":"text","text":code}]}));
    }

    fn info(&mut self, text: &str) {
        let t = esc(text);
        self.storage.push_str(&format!(
            "<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\"><ac:rich-text-body><p>{t}</p></ac:rich-text-body></ac:structured-macro>"
        ));
        self.view.push_str(&format!(
            "<div class=\"confluence-information-macro confluence-information-macro-information\"><div class=\"confluence-information-macro-body\"><p>{t}</p></div></div>"
        ));
        self.adf.push(json!({"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[{"type":"text","text":text}]}]}));
    }

    fn table(&mut self, rows: &[[String; 2]]) {
        let mut s = String::from("<table data-layout=\"default\"><tbody>");
        let mut adf_rows = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let cell = if i == 0 { "th" } else { "td" };
            s.push_str("<tr>");
            let mut cells = Vec::new();
            for c in r {
                s.push_str(&format!("<{cell}><p>{}</p></{cell}>", esc(c)));
                cells.push(json!({"type": if i == 0 {"tableHeader"} else {"tableCell"},
                    "content":[{"type":"paragraph","content":[{"type":"text","text":c}]}]}));
            }
            s.push_str("</tr>");
            adf_rows.push(json!({"type":"tableRow","content":cells}));
        }
        s.push_str("</tbody></table>");
        self.storage.push_str(&s);
        self.view.push_str(&s);
        self.adf.push(json!({"type":"table","content":adf_rows}));
    }

    fn page_link(&mut self, title: &str) {
        self.storage.push_str(&format!(
            "<p><ac:link><ri:page ri:content-title=\"{}\" /></ac:link></p>",
            esc(title)
        ));
        self.view
            .push_str(&format!("<p><a href=\"#\">{}</a></p>", esc(title)));
        self.adf.push(json!({"type":"paragraph","content":[{"type":"text","text":title,"marks":[{"type":"link","attrs":{"href":"#"}}]}]}));
    }

    /// A paragraph with `selection` highlighted by inline comment `reference`.
    fn marked(&mut self, before: &str, reference: &str, selection: &str, after: &str) {
        let (b, sel, a) = (esc(before), esc(selection), esc(after));
        self.storage.push_str(&format!(
            "<p>{b} <ac:inline-comment-marker ac:ref=\"{reference}\">{sel}</ac:inline-comment-marker> {a}</p>"
        ));
        self.view.push_str(&format!(
            "<p>{b} <span class=\"inline-comment-marker\" data-ref=\"{reference}\">{sel}</span> {a}</p>"
        ));
        self.adf.push(json!({"type":"paragraph","content":[
            {"type":"text","text":format!("{before} ")},
            {"type":"text","text":selection,"marks":[{"type":"annotation","attrs":{"id":reference,"annotationType":"inlineComment"}}]},
            {"type":"text","text":format!(" {after}")},
        ]}));
    }

    fn finish(self) -> Doc {
        Doc {
            storage: self.storage,
            view: self.view,
            adf: json!({"type":"doc","version":1,"content":self.adf}).to_string(),
        }
    }
}

fn anchor(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect::<String>()
        .replace(' ', "-")
}

const SALT_PAGE_BODY: u64 = 0x7061_6765;
const SALT_COMMENT_BODY: u64 = 0x636f_6d6d;
const SALT_BYTES: u64 = 0x6279_7465;
const SALT_MARKER: u64 = 0x6d61_726b;

/// The `ac:ref` of inline comment `id`'s marker and the text it highlights
/// (`inlineMarkerRef`, `inlineOriginalSelection`).
pub fn marker(seed: u64, id: u64) -> (String, String) {
    let reference = crate::fake::words::uuid_v4(
        mix(seed, SALT_MARKER, id, 0),
        mix(seed, SALT_MARKER, id, 1),
    );
    let mut rng = rng_for(seed, SALT_MARKER, id, 2);
    let n = rng.random_range(1..=4);
    let words: Vec<&str> = (0..n).map(|_| word(&mut rng)).collect();
    (reference, words.join(" "))
}

/// The body of page or blog post `id` at `version`, with the markers of
/// inline comments `markers`: a few hundred bytes to a few KB.
pub fn page_doc(seed: u64, id: u64, version: u32, markers: &[u64]) -> Doc {
    let mut rng = rng_for(seed, SALT_PAGE_BODY, id, u64::from(version));
    let mut b = Builder {
        storage: String::new(),
        view: String::new(),
        adf: Vec::new(),
    };
    let blocks = rng.random_range(2..=12);
    b.heading(1, &plain_title(&mut rng));
    b.paragraph(&sentence(&mut rng), None);
    for m in markers {
        let (reference, selection) = marker(seed, *m);
        let (before, after) = (sentence(&mut rng), sentence(&mut rng));
        b.marked(&before, &reference, &selection, &after);
    }
    for _ in 0..blocks {
        match rng.random_range(0..10) {
            0 => b.heading(2, &plain_title(&mut rng)),
            1 => {
                let items: Vec<String> = (0..rng.random_range(2..=5))
                    .map(|_| sentence(&mut rng))
                    .collect();
                b.bullets(&items);
            }
            2 => {
                let code = format!(
                    "fn {}() -> u32 {{\n    // {} & {}\n    {}\n}}",
                    word(&mut rng),
                    word(&mut rng),
                    word(&mut rng),
                    rng.random_range(0..1000)
                );
                b.code("rust", &code);
            }
            3 => b.info(&sentence(&mut rng)),
            4 => {
                let rows: Vec<[String; 2]> =
                    std::iter::once(["Key".to_owned(), "Value".to_owned()])
                        .chain(
                            (0..rng.random_range(1..=4))
                                .map(|_| [capitalised(word(&mut rng)), sentence(&mut rng)]),
                        )
                        .collect();
                b.table(&rows);
            }
            5 => b.page_link(&plain_title(&mut rng)),
            6 => {
                let s = sentence(&mut rng);
                let strong = capitalised(word(&mut rng));
                b.paragraph(&s, Some(&strong));
            }
            _ => {
                let s = format!("{} {}", sentence(&mut rng), sentence(&mut rng));
                b.paragraph(&s, None);
            }
        }
    }
    b.paragraph(&format!("Revision {version}."), None);
    b.finish()
}

/// The renderings of a storage body written through the API: the storage
/// as given, the view the same, and an atlas_doc_format document holding
/// its text in one paragraph (the fake does not convert markup [U]).
pub fn written_doc(storage: &str) -> Doc {
    let mut text = String::with_capacity(storage.len());
    let mut in_tag = false;
    for c in storage.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let content: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type":"paragraph","content":[{"type":"text","text":text}]})]
    };
    Doc {
        storage: storage.to_owned(),
        view: storage.to_owned(),
        adf: json!({"type":"doc","version":1,"content":content}).to_string(),
    }
}

/// The body of page `id` as `node` stands: the written one, or the
/// generated one of its version.
pub fn node_doc(seed: u64, id: u64, node: &super::data::Node) -> Doc {
    match &node.body {
        Some(storage) => written_doc(storage),
        None => page_doc(seed, id, node.meta.version, &node.markers),
    }
}

/// The body of comment `id` at `version`: one to three paragraphs.
pub fn comment_doc(seed: u64, id: u64, version: u32) -> Doc {
    let mut rng = rng_for(seed, SALT_COMMENT_BODY, id, u64::from(version));
    let mut b = Builder {
        storage: String::new(),
        view: String::new(),
        adf: Vec::new(),
    };
    for _ in 0..rng.random_range(1..=3) {
        b.paragraph(&sentence(&mut rng), None);
    }
    b.finish()
}

/// The bytes of attachment `id` (numeric part) at `version`: `size` bytes
/// that look like their media type (a PNG, PDF or ZIP signature, text for
/// text types), random-looking otherwise.
pub fn attachment_bytes(
    seed: u64,
    id: u64,
    version: u32,
    media: MediaKind,
    size: usize,
) -> Vec<u8> {
    let mut state = mix(seed, SALT_BYTES, id, u64::from(version));
    let mut out = Vec::with_capacity(size);
    let prefix: &[u8] = match media.ext {
        "png" => b"\x89PNG\r\n\x1a\n",
        "pdf" => b"%PDF-1.7\n",
        "zip" | "docx" => b"PK\x03\x04",
        "jpg" => b"\xff\xd8\xff\xe0",
        _ => b"",
    };
    out.extend_from_slice(&prefix[..prefix.len().min(size)]);
    let text = media.media_type.starts_with("text/") || media.ext == "json";
    if text {
        while out.len() < size {
            state = mix64(state);
            let w = WORDS[(state % WORDS.len() as u64) as usize];
            let sep: &[u8] = if state >> 60 == 0 {
                b"\n"
            } else if media.ext == "csv" {
                b","
            } else {
                b" "
            };
            for &c in w.as_bytes().iter().chain(sep) {
                if out.len() < size {
                    out.push(c);
                }
            }
        }
    } else {
        while out.len() < size {
            state = mix64(state);
            for &c in &state.to_le_bytes() {
                if out.len() < size {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_deterministic_and_sized() {
        let mut sizes = Vec::new();
        for id in 1..200u64 {
            let d = page_doc(7, id, 1, &[]);
            assert_eq!(d, page_doc(7, id, 1, &[]));
            assert_ne!(d.storage, page_doc(7, id, 2, &[]).storage);
            assert_ne!(d.storage, page_doc(8, id, 1, &[]).storage);
            let adf: Value = serde_json::from_str(&d.adf).unwrap();
            assert_eq!(adf["type"], "doc");
            assert!(!d.storage.contains("<b>not"), "escaped");
            sizes.push(d.storage.len());
        }
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(*min >= 150 && *max <= 8000 && *max >= 1500, "{min}..{max}");
        let c = comment_doc(7, 5, 1);
        assert!(c.storage.starts_with("<p>"));
    }

    #[test]
    fn bytes_look_like_their_type() {
        let png = MEDIA[0];
        let b = attachment_bytes(1, 42, 1, png, 100);
        assert_eq!(b.len(), 100);
        assert!(b.starts_with(b"\x89PNG"));
        assert_eq!(b, attachment_bytes(1, 42, 1, png, 100));
        assert_ne!(b, attachment_bytes(1, 42, 2, png, 100));
        let txt = attachment_bytes(1, 42, 1, MEDIA[2], 300);
        assert!(txt.iter().all(|c| c.is_ascii()));
        assert_eq!(txt.len(), 300);
        assert!(attachment_bytes(1, 1, 1, png, 0).is_empty());
        assert_eq!(attachment_bytes(1, 1, 1, png, 3), b"\x89PN");
    }

    #[test]
    fn titles_include_awkward_ones() {
        let mut rng = StdRng::seed_from_u64(3);
        let titles: Vec<String> = (0..5000).map(|_| page_title(&mut rng)).collect();
        for needle in ["/", ":", "?", "...", "🚀", "日本語"] {
            assert!(titles.iter().any(|t| t.contains(needle)), "{needle}");
        }
        assert!(titles.iter().any(|t| t.ends_with(' ')));
        assert!(titles.iter().any(|t| t.len() > 255));
        assert!(titles
            .iter()
            .all(|t| t.chars().count() <= 255 && !t.is_empty()));
    }
}
