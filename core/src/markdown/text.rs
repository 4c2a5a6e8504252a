//! Storage format -> plain text, for indexing (`export --format text`).

use super::storage::{entity, parse, Node};

/// Elements whose text stands on lines of its own.
const BLOCKS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "tr",
    "br",
    "hr",
    "div",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
    "ac:structured-macro",
    "ac:layout-section",
    "ac:layout-cell",
    "ac:task",
];

/// The text of a storage body: no markup, entities decoded, code bodies
/// kept, macro parameters left out, a line per block.
pub fn to_text(storage: &str) -> String {
    let mut out = String::with_capacity(storage.len() / 2);
    match parse(storage) {
        Ok(nodes) => walk(storage, &nodes, &mut out),
        // Not well formed: the text between the tags.
        Err(_) => {
            let mut rest = storage;
            while let Some(start) = rest.find('<') {
                decode_into(&rest[..start], &mut out);
                rest = rest[start..]
                    .find('>')
                    .map_or("", |end| &rest[start + end + 1..]);
                out.push(' ');
            }
            decode_into(rest, &mut out);
        }
    }
    tidy(&out)
}

/// Recursion is bounded by the reader's depth limit.
fn walk(src: &str, nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(range) => decode_into(&src[range.clone()], out),
            Node::Cdata { inner, .. } => {
                out.push('\n');
                out.push_str(&src[inner.clone()]);
                out.push('\n');
            }
            Node::Other(_) => {}
            Node::Element(e) => {
                if e.name == "ac:parameter" {
                    continue;
                }
                let block = BLOCKS.contains(&e.name);
                if block {
                    out.push('\n');
                } else if matches!(e.name, "td" | "th") {
                    out.push('\t');
                }
                if e.name == "ri:page" && e.self_closing {
                    if let Some(title) = e.attr("ri:content-title") {
                        decode_into(title, out);
                    }
                }
                walk(src, &e.children, out);
                if block {
                    out.push('\n');
                }
            }
        }
    }
}

/// Text with its entities decoded (unknown ones stay as written).
fn decode_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| Some((entity(&after[..end])?, end)))
        {
            Some((c, end)) => {
                out.push(if c == '\u{a0}' { ' ' } else { c });
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Lines trimmed, at most one empty line in a row, ending in a newline.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut empty = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !empty {
                out.push('\n');
            }
            empty = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        empty = false;
    }
    if out.ends_with("\n\n") {
        out.pop();
    }
    out
}
