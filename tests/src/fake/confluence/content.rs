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

    /// An `info`, `note`, `warning` or `tip` panel macro.
    fn panel(&mut self, kind: &str, text: &str) {
        let t = esc(text);
        self.storage.push_str(&format!(
            "<ac:structured-macro ac:name=\"{kind}\" ac:schema-version=\"1\"><ac:rich-text-body><p>{t}</p></ac:rich-text-body></ac:structured-macro>"
        ));
        let class = match kind {
            "info" => "information",
            "warning" => "note",
            "note" => "warning",
            _ => "tip",
        };
        self.view.push_str(&format!(
            "<div class=\"confluence-information-macro confluence-information-macro-{class}\"><div class=\"confluence-information-macro-body\"><p>{t}</p></div></div>"
        ));
        let panel_type = match kind {
            "note" => "note",
            "warning" => "warning",
            "tip" => "success",
            _ => "info",
        };
        self.adf.push(json!({"type":"panel","attrs":{"panelType":panel_type},"content":[{"type":"paragraph","content":[{"type":"text","text":text}]}]}));
    }

    /// A paragraph with a status lozenge.
    fn status(&mut self, label: &str, colour: &str, title: &str) {
        let (l, t) = (esc(label), esc(title));
        self.storage.push_str(&format!(
            "<p>{l} <ac:structured-macro ac:name=\"status\" ac:schema-version=\"1\"><ac:parameter ac:name=\"colour\">{colour}</ac:parameter><ac:parameter ac:name=\"title\">{t}</ac:parameter></ac:structured-macro></p>"
        ));
        self.view.push_str(&format!(
            "<p>{l} <span class=\"status-macro aui-lozenge aui-lozenge-{}\">{t}</span></p>",
            colour.to_lowercase()
        ));
        self.adf.push(
            json!({"type":"paragraph","content":[{"type":"text","text":format!("{label} ")},
            {"type":"status","attrs":{"text":title,"color":colour.to_lowercase()}}]}),
        );
    }

    /// An expand macro around a paragraph.
    fn expand(&mut self, title: &str, text: &str) {
        let (ti, t) = (esc(title), esc(text));
        self.storage.push_str(&format!(
            "<ac:structured-macro ac:name=\"expand\" ac:schema-version=\"1\"><ac:parameter ac:name=\"title\">{ti}</ac:parameter><ac:rich-text-body><p>{t}</p></ac:rich-text-body></ac:structured-macro>"
        ));
        self.view.push_str(&format!(
            "<div class=\"expand-container\"><div class=\"expand-control\"><span class=\"expand-control-text\">{ti}</span></div><div class=\"expand-content\"><p>{t}</p></div></div>"
        ));
        self.adf.push(json!({"type":"expand","attrs":{"title":title},"content":[{"type":"paragraph","content":[{"type":"text","text":text}]}]}));
    }

    /// A paragraph with a Jira issue macro.
    fn jira(&mut self, key: &str) {
        self.storage.push_str(&format!(
            "<p>Tracked in <ac:structured-macro ac:name=\"jira\" ac:schema-version=\"1\"><ac:parameter ac:name=\"server\">System JIRA</ac:parameter><ac:parameter ac:name=\"serverId\">{JIRA_SERVER}</ac:parameter><ac:parameter ac:name=\"key\">{key}</ac:parameter></ac:structured-macro></p>"
        ));
        self.view.push_str(&format!(
            "<p>Tracked in <span class=\"jira-issue\"><a href=\"https://example.atlassian.net/browse/{key}\">{key}</a></span></p>"
        ));
        self.adf.push(json!({"type":"paragraph","content":[{"type":"text","text":"Tracked in "},
            {"type":"inlineCard","attrs":{"url":format!("https://example.atlassian.net/browse/{key}")}}]}));
    }

    /// A table whose header spans two columns and whose first body cell
    /// spans two rows.
    fn merged_table(&mut self, head: &str, cells: &[String; 3]) {
        let (h, a, b, c) = (esc(head), esc(&cells[0]), esc(&cells[1]), esc(&cells[2]));
        let s = format!(
            "<table data-layout=\"default\"><tbody><tr><th colspan=\"2\"><p>{h}</p></th></tr><tr><td rowspan=\"2\"><p>{a}</p></td><td><p>{b}</p></td></tr><tr><td><p>{c}</p></td></tr></tbody></table>"
        );
        self.storage.push_str(&s);
        self.view.push_str(&s);
        let cell = |kind: &str, text: &str, attrs: Value| json!({"type":kind,"attrs":attrs,"content":[{"type":"paragraph","content":[{"type":"text","text":text}]}]});
        self.adf.push(json!({"type":"table","content":[
            {"type":"tableRow","content":[cell("tableHeader", head, json!({"colspan":2}))]},
            {"type":"tableRow","content":[cell("tableCell", &cells[0], json!({"rowspan":2})), cell("tableCell", &cells[1], json!({}))]},
            {"type":"tableRow","content":[cell("tableCell", &cells[2], json!({}))]},
        ]}));
    }

    /// A two-column layout.
    fn layout(&mut self, left: &str, right: &str) {
        let (l, r) = (esc(left), esc(right));
        self.storage.push_str(&format!(
            "<ac:layout><ac:layout-section ac:type=\"two_equal\"><ac:layout-cell><p>{l}</p></ac:layout-cell><ac:layout-cell><p>{r}</p></ac:layout-cell></ac:layout-section></ac:layout>"
        ));
        self.view.push_str(&format!(
            "<div class=\"contentLayout2\"><div class=\"columnLayout two-equal\"><div class=\"cell normal\"><p>{l}</p></div><div class=\"cell normal\"><p>{r}</p></div></div></div>"
        ));
        let col = |t: &str| json!({"type":"layoutColumn","attrs":{"width":50},"content":[{"type":"paragraph","content":[{"type":"text","text":t}]}]});
        self.adf
            .push(json!({"type":"layoutSection","content":[col(left), col(right)]}));
    }

    /// A task list: (done, text) per task.
    fn tasks(&mut self, tasks: &[(bool, String)]) {
        let mut s = String::from("<ac:task-list>");
        let mut v = String::from("<ul class=\"inline-task-list\">");
        let mut items = Vec::new();
        for (i, (done, text)) in tasks.iter().enumerate() {
            let status = if *done { "complete" } else { "incomplete" };
            let t = esc(text);
            s.push_str(&format!(
                "<ac:task><ac:task-id>{}</ac:task-id><ac:task-status>{status}</ac:task-status><ac:task-body>{t}</ac:task-body></ac:task>",
                i + 1
            ));
            v.push_str(&format!(
                "<li data-inline-task-id=\"{}\"{}>{t}</li>",
                i + 1,
                if *done { " class=\"checked\"" } else { "" }
            ));
            items.push(json!({"type":"taskItem","attrs":{"localId":(i + 1).to_string(),"state":if *done {"DONE"} else {"TODO"}},
                "content":[{"type":"text","text":text}]}));
        }
        s.push_str("</ac:task-list>");
        v.push_str("</ul>");
        self.storage.push_str(&s);
        self.view.push_str(&v);
        self.adf
            .push(json!({"type":"taskList","attrs":{"localId":"tasks"},"content":items}));
    }

    /// An image of attachment `file` of the page.
    fn image(&mut self, file: &str) {
        let f = esc(file);
        self.storage.push_str(&format!(
            "<p><ac:image ac:height=\"250\"><ri:attachment ri:filename=\"{f}\" /></ac:image></p>"
        ));
        self.view.push_str(&format!(
            "<p><span class=\"confluence-embedded-file-wrapper\"><img class=\"confluence-embedded-image\" height=\"250\" alt=\"{f}\" /></span></p>"
        ));
        self.adf.push(json!({"type":"mediaSingle","content":[{"type":"media","attrs":{"type":"file","alt":file,"height":250}}]}));
    }

    /// A paragraph of inline formatting, entities and a line break.
    fn formatted(&mut self, a: &str, b: &str, n: u32) {
        let (ea, eb) = (esc(a), esc(b));
        self.storage.push_str(&format!(
            "<p><em>{ea}</em>, <code>{eb}()</code>, <u>{ea}</u> and <span style=\"text-decoration: line-through;\">{eb}</span>: H<sub>2</sub>O, x<sup>{n}</sup>,&nbsp;{n}&nbsp;items &amp; &lt;b&gt;tags&lt;/b&gt;<br />{eb} on a new line.</p>"
        ));
        self.view.push_str(&format!(
            "<p><em>{ea}</em>, <code>{eb}()</code>, <u>{ea}</u> and <s>{eb}</s>: H<sub>2</sub>O, x<sup>{n}</sup>,&nbsp;{n}&nbsp;items &amp; &lt;b&gt;tags&lt;/b&gt;<br />{eb} on a new line.</p>"
        ));
        let text = |t: String, marks: Value| json!({"type":"text","text":t,"marks":marks});
        self.adf.push(json!({"type":"paragraph","content":[
            text(a.to_owned(), json!([{"type":"em"}])),
            {"type":"text","text":", "},
            text(format!("{b}()"), json!([{"type":"code"}])),
            {"type":"text","text":", "},
            text(a.to_owned(), json!([{"type":"underline"}])),
            {"type":"text","text":" and "},
            text(b.to_owned(), json!([{"type":"strike"}])),
            {"type":"text","text":format!(": H2O, x{n},\u{a0}{n}\u{a0}items & <b>tags</b>")},
            {"type":"hardBreak"},
            {"type":"text","text":format!("{b} on a new line.")},
        ]}));
    }

    /// An ordered list.
    fn numbered(&mut self, items: &[String]) {
        let mut s = String::from("<ol>");
        for it in items {
            s.push_str(&format!("<li><p>{}</p></li>", esc(it)));
        }
        s.push_str("</ol>");
        self.storage.push_str(&s);
        self.view.push_str(&s);
        let content: Vec<Value> = items
            .iter()
            .map(|it| json!({"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":it}]}]}))
            .collect();
        self.adf
            .push(json!({"type":"orderedList","content":content}));
    }

    /// A link to a page with a link body, and one to an external site.
    fn links(&mut self, title: &str, body: &str, n: u32) {
        let (t, b) = (esc(title), esc(body));
        self.storage.push_str(&format!(
            "<p>See <ac:link><ri:page ri:content-title=\"{t}\" /><ac:plain-text-link-body><![CDATA[{body}]]></ac:plain-text-link-body></ac:link> and <a href=\"https://example.com/docs?id={n}&amp;lang=en\">the docs</a>.</p>"
        ));
        self.view.push_str(&format!(
            "<p>See <a href=\"#\">{b}</a> and <a href=\"https://example.com/docs?id={n}&amp;lang=en\">the docs</a>.</p>"
        ));
        self.adf.push(json!({"type":"paragraph","content":[{"type":"text","text":"See "},
            {"type":"text","text":body,"marks":[{"type":"link","attrs":{"href":"#"}}]},
            {"type":"text","text":" and "},
            {"type":"text","text":"the docs","marks":[{"type":"link","attrs":{"href":format!("https://example.com/docs?id={n}&lang=en")}}]},
            {"type":"text","text":"."}]}));
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
/// The `serverId` of the Jira macros.
const JIRA_SERVER: &str = "144880e9-a353-312f-9412-ed028e8166fa";

/// The `ac:ref` of inline comment `id`'s marker and the text it highlights
/// (`inlineMarkerRef`, `inlineOriginalSelection`).
pub fn marker(seed: u64, id: u64) -> (String, String) {
    let reference =
        crate::fake::words::uuid_v4(mix(seed, SALT_MARKER, id, 0), mix(seed, SALT_MARKER, id, 1));
    let mut rng = rng_for(seed, SALT_MARKER, id, 2);
    let n = rng.random_range(1..=4);
    let words: Vec<&str> = (0..n).map(|_| word(&mut rng)).collect();
    (reference, words.join(" "))
}

/// The body of page or blog post `id` at `version`, with the markers of
/// inline comments `markers` and, when `image` names one of its
/// attachments, that image: a few hundred bytes to a few KB, of the
/// elements of the storage format (headings, paragraphs with inline
/// formatting, entities and line breaks, lists, task lists, tables with
/// merged cells, layouts, links, images, and the code, panel, status,
/// expand and Jira macros).
pub fn page_doc(seed: u64, id: u64, version: u32, markers: &[u64], image: Option<&str>) -> Doc {
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
    if let Some(file) = image.filter(|_| rng.random_bool(0.7)) {
        b.image(file);
    }
    for _ in 0..blocks {
        match rng.random_range(0..22) {
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
            3 => {
                let kind = ["info", "note", "warning", "tip"][rng.random_range(0..4)];
                b.panel(kind, &sentence(&mut rng));
            }
            10 => {
                let (colour, title) = [
                    ("Green", "DONE"),
                    ("Yellow", "IN PROGRESS"),
                    ("Red", "BLOCKED"),
                    ("Grey", "TODO"),
                ][rng.random_range(0..4)];
                b.status(&format!("{}:", capitalised(word(&mut rng))), colour, title);
            }
            11 => b.expand(&plain_title(&mut rng), &sentence(&mut rng)),
            12 => b.jira(&format!("PROJ-{}", rng.random_range(1..2000))),
            13 => {
                let cells = [sentence(&mut rng), sentence(&mut rng), sentence(&mut rng)];
                b.merged_table(&plain_title(&mut rng), &cells);
            }
            14 => b.layout(&sentence(&mut rng), &sentence(&mut rng)),
            15 => {
                let tasks: Vec<(bool, String)> = (0..rng.random_range(1..=4))
                    .map(|_| (rng.random_bool(0.5), sentence(&mut rng)))
                    .collect();
                b.tasks(&tasks);
            }
            16 => {
                let (a, w) = (word(&mut rng), word(&mut rng));
                b.formatted(a, w, rng.random_range(2..100));
            }
            17 => {
                let items: Vec<String> = (0..rng.random_range(2..=4))
                    .map(|_| sentence(&mut rng))
                    .collect();
                b.numbered(&items);
            }
            18 => {
                let (t, body) = (plain_title(&mut rng), plain_title(&mut rng));
                b.links(&t, &body, rng.random_range(1..1000));
            }
            19 => b.heading(3, &plain_title(&mut rng)),
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
        None => page_doc(
            seed,
            id,
            node.meta.version,
            &node.markers,
            node.image.as_deref(),
        ),
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
            let d = page_doc(7, id, 1, &[], None);
            assert_eq!(d, page_doc(7, id, 1, &[], None));
            assert_ne!(d.storage, page_doc(7, id, 2, &[], None).storage);
            assert_ne!(d.storage, page_doc(8, id, 1, &[], None).storage);
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

    /// Checks that `xml` nests its tags properly (CDATA skipped, entities
    /// well formed); the element names in order of opening otherwise.
    fn check_nesting(xml: &str) -> Result<(), String> {
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find(['<', '&']) {
            let after = &rest[i..];
            if after.starts_with('&') {
                let end = after.find(';').ok_or("unterminated entity")?;
                let name = &after[1..end];
                if !["amp", "lt", "gt", "quot", "nbsp"].contains(&name) {
                    return Err(format!("entity {name}"));
                }
                rest = &after[end + 1..];
                continue;
            }
            if let Some(cdata) = after.strip_prefix("<![CDATA[") {
                let end = cdata.find("]]>").ok_or("unterminated CDATA")?;
                rest = &cdata[end + 3..];
                continue;
            }
            let end = after.find('>').ok_or("unterminated tag")?;
            let tag = &after[1..end];
            rest = &after[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or(""));
            }
        }
        match stack.is_empty() {
            true => Ok(()),
            false => Err(format!("unclosed {stack:?}")),
        }
    }

    #[test]
    fn bodies_cover_the_storage_format_and_nest() {
        let mut all = String::new();
        for id in 1..300u64 {
            let d = page_doc(5, id, 1, &[1000 + id], Some("diagram 1.png"));
            check_nesting(&d.storage).unwrap_or_else(|e| panic!("{id}: {e}\n{}", d.storage));
            let (reference, selection) = marker(5, 1000 + id);
            assert!(d.storage.contains(&format!(
                "<ac:inline-comment-marker ac:ref=\"{reference}\">{selection}</ac:inline-comment-marker>"
            )));
            serde_json::from_str::<Value>(&d.adf).unwrap();
            all.push_str(&d.storage);
        }
        for element in [
            "<h1>", "<h2>", "<h3>", "<ul>", "<ol>", "<strong>", "<em>", "<code>", "<u>",
            "<sub>", "<sup>", "<br />", "&nbsp;", "&amp;", "&lt;b&gt;", "text-decoration: line-through",
            "ac:name=\"code\"", "<ac:parameter ac:name=\"language\">", "<![CDATA[",
            "ac:name=\"info\"", "ac:name=\"note\"", "ac:name=\"warning\"", "ac:name=\"tip\"",
            "ac:name=\"status\"", "ac:name=\"expand\"", "ac:name=\"jira\"",
            "colspan=\"2\"", "rowspan=\"2\"",
            "<ac:layout><ac:layout-section ac:type=\"two_equal\"><ac:layout-cell>",
            "<ac:task-list><ac:task>", "<ac:task-status>complete", "<ac:task-status>incomplete",
            "<ac:link><ri:page ri:content-title=", "<ac:plain-text-link-body>", "<a href=",
            "<ac:image ac:height=\"250\"><ri:attachment ri:filename=\"diagram 1.png\" /></ac:image>",
        ] {
            assert!(all.contains(element), "no {element}");
        }
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
