//! Storage format -> Markdown, block by block, each block checked to come
//! back byte for byte (see the module documentation of [`super`]).

use super::storage::{decode_basic, parse, Element, Node};
use super::{to_storage, Links, GAP_MARKER, MACRO_ID, RAW_INFO, SEPARATOR};

/// The Markdown of a storage body; [`super::to_storage`] gives back `src`.
pub fn document(src: &str, links: &Links) -> String {
    let Ok(nodes) = parse(src) else {
        return raw_document(src);
    };
    let refs: Vec<&Node> = nodes.iter().collect();
    let md = blocks(src, &refs, links);
    // Blocks that each come back can still merge with their neighbours:
    // then the whole body is one raw block.
    match super::to_storage(&md, links) {
        Ok(back) if back == src => md,
        _ => raw_document(src),
    }
}

fn raw_document(src: &str) -> String {
    if src.is_empty() {
        return String::new();
    }
    let mut md = raw_block(src);
    md.push('\n');
    md
}

/// The top-level nodes of a body (or of a blockquote): blocks separated by
/// blank lines, with the white space between them as gap markers.
fn blocks(src: &str, nodes: &[&Node], links: &Links) -> String {
    let mut out = String::new();
    let mut gap_start = nodes.first().map_or(0, |n| n.span().start);
    let body_start = gap_start;
    let mut first = true;
    let mut previous_list = false;
    for node in nodes {
        let span = node.span();
        if let Node::Text(_) = node {
            if src[span.clone()].trim().is_empty() {
                continue;
            }
        }
        let gap = &src[gap_start..span.start];
        if !first {
            out.push_str(SEPARATOR);
        }
        let list = matches!(node, Node::Element(e) if matches!(e.name, "ul" | "ol"));
        if !gap.is_empty() {
            out.push_str(&gap_marker(gap));
            out.push_str(SEPARATOR);
        } else if list && previous_list {
            // Two lists in a row would read as one.
            out.push_str(&gap_marker(""));
            out.push_str(SEPARATOR);
        }
        out.push_str(&block(src, node, links));
        first = false;
        previous_list = list;
        gap_start = span.end;
    }
    let end = nodes.last().map_or(body_start, |n| n.span().end);
    let trailing = &src[gap_start..end];
    if !first {
        out.push('\n');
    }
    if !trailing.is_empty() {
        if !first {
            out.push('\n');
        }
        out.push_str(&gap_marker(trailing));
        out.push('\n');
    }
    out
}

fn gap_marker(gap: &str) -> String {
    if gap.is_empty() {
        return "<!-- -->".to_string();
    }
    format!(
        "{GAP_MARKER}{} -->",
        serde_json::to_string(gap).unwrap_or_default()
    )
}

/// One block: its Markdown when that converts back to exactly its bytes,
/// else a raw block.
fn block(src: &str, node: &Node, links: &Links) -> String {
    let bytes = &src[node.span()];
    if let Node::Element(element) = node {
        if let Some(md) = element_markdown(src, element, links) {
            if to_storage::block_storage(&md, links).as_deref() == Ok(bytes) {
                return md;
            }
        }
    }
    raw_block(bytes)
}

/// A fenced block that carries storage XML verbatim.
pub fn raw_block(bytes: &str) -> String {
    let fence = "`".repeat(longest_run(bytes, '`').max(2) + 1);
    format!("{fence}{RAW_INFO}\n{bytes}\n{fence}")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in s.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

fn element_markdown(src: &str, e: &Element, links: &Links) -> Option<String> {
    match e.name {
        "p" if !e.self_closing && !e.children.is_empty() => {
            Inline::run(src, &e.children, links, false)
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = usize::from(e.name.as_bytes()[1] - b'0');
            let text = Inline::run(src, &e.children, links, false)?;
            (!text.contains('\n') && !text.is_empty())
                .then(|| format!("{} {text}", "#".repeat(level)))
        }
        "hr" if e.self_closing && e.attrs.is_empty() => Some("---".into()),
        "ul" | "ol" => list(src, e, links),
        "blockquote" => {
            let children: Vec<&Node> = e.children.iter().collect();
            if children.iter().any(|n| !matches!(n, Node::Element(_))) || children.is_empty() {
                return None;
            }
            let inner = blocks(src, &children, links);
            Some(prefix_lines(inner.trim_end_matches('\n'), "> ", ">"))
        }
        "table" => table(src, e, links),
        "ac:structured-macro" if e.attr("ac:name") == Some("code") => code_macro(src, e),
        _ => None,
    }
}

fn prefix_lines(text: &str, prefix: &str, empty: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                empty.to_string()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect();
    lines.join("\n")
}

fn elements<'e, 'a>(nodes: &'e [Node<'a>]) -> Option<Vec<&'e Element<'a>>> {
    nodes
        .iter()
        .map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn list(src: &str, e: &Element, links: &Links) -> Option<String> {
    if !e.attrs.is_empty() {
        return None;
    }
    let items = elements(&e.children)?;
    if items.is_empty() || items.iter().any(|i| i.name != "li" || !i.attrs.is_empty()) {
        return None;
    }
    let loose = items[0]
        .children
        .first()
        .is_some_and(|n| matches!(n, Node::Element(p) if p.name == "p"));
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let marker = if e.name == "ul" {
            "-".to_string()
        } else {
            format!("{}.", index + 1)
        };
        let content = if loose {
            let children: Vec<&Node> = item.children.iter().collect();
            if !matches!(children.first(), Some(Node::Element(p)) if p.name == "p")
                || children.iter().any(|n| !matches!(n, Node::Element(_)))
            {
                return None;
            }
            blocks(src, &children, links)
                .trim_end_matches('\n')
                .to_string()
        } else {
            tight_item(src, item, links)?
        };
        let indent = " ".repeat(marker.len() + 1);
        let body = prefix_lines(&content, &indent, "");
        out.push(format!("{marker} {}", &body[indent.len()..]));
    }
    Some(out.join(if loose { "\n\n" } else { "\n" }))
}

/// `<li>text<ul>...</ul></li>`: the text, then nested lists.
fn tight_item(src: &str, item: &Element, links: &Links) -> Option<String> {
    let split = item
        .children
        .iter()
        .position(|n| matches!(n, Node::Element(l) if matches!(l.name, "ul" | "ol")))
        .unwrap_or(item.children.len());
    let (inline, nested) = item.children.split_at(split);
    if inline.is_empty() {
        return None;
    }
    let mut out = Inline::run(src, inline, links, false)?;
    for node in nested {
        let Node::Element(l) = node else { return None };
        if !matches!(l.name, "ul" | "ol") {
            return None;
        }
        out.push('\n');
        out.push_str(&list(src, l, links)?);
    }
    Some(out)
}

fn table(src: &str, e: &Element, links: &Links) -> Option<String> {
    let [Node::Element(body)] = e.children.as_slice() else {
        return None;
    };
    if body.name != "tbody" || !body.attrs.is_empty() {
        return None;
    }
    let rows = elements(&body.children)?;
    let mut lines = Vec::with_capacity(rows.len() + 2);
    let open = &src[e.span.start..e.open_end];
    if open != "<table>" {
        if open.contains("--") || open.contains('\n') {
            return None;
        }
        lines.push(format!("<!-- {open} -->"));
    }
    let mut columns = 0;
    for (index, row) in rows.iter().enumerate() {
        let cells = elements(&row.children)?;
        let kind = if index == 0 { "th" } else { "td" };
        if row.name != "tr" || !row.attrs.is_empty() || cells.is_empty() {
            return None;
        }
        if index == 0 {
            columns = cells.len();
        } else if cells.len() != columns {
            return None;
        }
        let mut texts = Vec::with_capacity(cells.len());
        for cell in cells {
            if cell.name != kind || !cell.attrs.is_empty() {
                return None;
            }
            let [Node::Element(p)] = cell.children.as_slice() else {
                return None;
            };
            if p.name != "p" || !p.attrs.is_empty() {
                return None;
            }
            texts.push(if p.self_closing {
                String::new()
            } else {
                Inline::run(src, &p.children, links, true)?
            });
        }
        lines.push(format!("| {} |", texts.join(" | ")));
        if index == 0 {
            lines.push(format!("|{}", " --- |".repeat(columns)));
        }
    }
    Some(lines.join("\n"))
}

fn code_macro(src: &str, e: &Element) -> Option<String> {
    let children = elements(&e.children)?;
    let (language, body) = match children.as_slice() {
        [body] => (String::new(), body),
        [parameter, body] if parameter.attr("ac:name") == Some("language") => {
            let [Node::Text(text)] = parameter.children.as_slice() else {
                return None;
            };
            (src[text.clone()].to_string(), body)
        }
        _ => return None,
    };
    if language.contains(|c: char| c.is_whitespace() || c == '`' || c == '&' || c == '<') {
        return None;
    }
    let [Node::Cdata { inner, .. }] = body.children.as_slice() else {
        return None;
    };
    let code = &src[inner.clone()];
    let fence = "`".repeat(longest_run(code, '`').max(2) + 1);
    // Confluence gives each macro an id: kept after the language.
    let info = match e.attr("ac:macro-id") {
        Some(id) if language.is_empty() => format!("text {MACRO_ID}{id}"),
        Some(id) => format!("{language} {MACRO_ID}{id}"),
        None => language,
    };
    Some(format!("{fence}{info}\n{code}\n{fence}"))
}

/// Inline content as Markdown, escaped so it reads back as the same text.
struct Inline<'s> {
    src: &'s str,
    links: &'s Links,
    out: String,
    line_start: bool,
    in_table: bool,
}

impl<'s> Inline<'s> {
    fn run(src: &'s str, nodes: &[Node], links: &'s Links, in_table: bool) -> Option<String> {
        let mut inline = Inline {
            src,
            links,
            out: String::new(),
            line_start: true,
            in_table,
        };
        inline.nodes(nodes, 0)?;
        Some(inline.out)
    }

    fn nodes(&mut self, nodes: &[Node], depth: usize) -> Option<()> {
        if depth > 16 {
            return None;
        }
        for node in nodes {
            match node {
                Node::Text(range) => self.text(&self.src[range.clone()])?,
                Node::Element(e) => self.element(e, depth)?,
                _ => self.raw(node.span())?,
            }
        }
        Some(())
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.line_start = s.ends_with('\n');
    }

    fn text(&mut self, text: &str) -> Option<()> {
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c == '\r' || (c == '\n' && self.in_table) {
                return None;
            }
            if c == '\n' {
                self.out.push('\n');
                self.line_start = true;
                continue;
            }
            if self.line_start {
                self.line_start = false;
                if matches!(c, '#' | '-' | '+' | '=' | '>') {
                    self.out.push('\\');
                    self.out.push(c);
                    continue;
                }
                if c.is_ascii_digit() {
                    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
                    if matches!(text.as_bytes().get(at + digits), Some(b'.' | b')')) {
                        self.out.push_str(&text[at..at + digits]);
                        self.out.push('\\');
                        self.out.push(char::from(text.as_bytes()[at + digits]));
                        for _ in 0..digits {
                            chars.next();
                        }
                        continue;
                    }
                }
            }
            let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
            let escape = match c {
                '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '~' => true,
                '_' => {
                    let before = text[..at].chars().next_back();
                    let after = chars.peek().map(|(_, c)| *c);
                    !(word(before) && word(after))
                }
                _ => false,
            };
            if escape {
                self.out.push('\\');
            }
            self.out.push(c);
        }
        Some(())
    }

    /// An element Markdown has no syntax for, as inline HTML.
    fn raw(&mut self, span: std::ops::Range<usize>) -> Option<()> {
        let bytes = &self.src[span];
        if bytes.contains('\n') || (self.in_table && bytes.contains('|')) {
            return None;
        }
        self.push(bytes);
        Some(())
    }

    fn wrapped(&mut self, mark: &str, e: &Element, depth: usize) -> Option<()> {
        if !e.attrs.is_empty() || e.children.is_empty() {
            return self.raw(e.span.clone());
        }
        let start = self.out.len();
        self.push(mark);
        self.nodes(&e.children, depth + 1)?;
        let inner = &self.out[start + mark.len()..];
        if inner.starts_with(char::is_whitespace) || inner.ends_with(char::is_whitespace) {
            return None;
        }
        self.push(mark);
        Some(())
    }

    fn element(&mut self, e: &Element, depth: usize) -> Option<()> {
        match e.name {
            "strong" => self.wrapped("**", e, depth),
            "em" => self.wrapped("*", e, depth),
            "s" => self.wrapped("~~", e, depth),
            "br" if e.attrs.is_empty() && e.self_closing => {
                self.push("\\\n");
                Some(())
            }
            "code" if e.attrs.is_empty() => {
                let text = match e.children.as_slice() {
                    [Node::Text(range)] => decode_basic(&self.src[range.clone()])?,
                    _ => return self.raw(e.span.clone()),
                };
                if text.contains(['`', '\n', '\r'])
                    || (self.in_table && text.contains('|'))
                    || text.starts_with(' ')
                    || text.ends_with(' ')
                {
                    return self.raw(e.span.clone());
                }
                self.push(&format!("`{text}`"));
                Some(())
            }
            "a" => match (e.attrs.as_slice(), e.children.is_empty()) {
                ([("href", href)], false) if plain_destination(href) => {
                    self.push("[");
                    self.nodes(&e.children, depth + 1)?;
                    self.push(&format!("]({href})"));
                    Some(())
                }
                _ => self.raw(e.span.clone()),
            },
            "ac:link" => match page_link(e) {
                Some(title) => {
                    self.push(&format!("[[{title}]]"));
                    Some(())
                }
                None => self.raw(e.span.clone()),
            },
            "ac:image" => match attachment_image(e) {
                Some(filename) => {
                    let decoded = decode_basic(filename)?;
                    let path = self.links.path_of(&decoded);
                    if path.contains(['<', '>', '\n', '\r']) {
                        return self.raw(e.span.clone());
                    }
                    let dest = if path.contains([' ', '(', ')']) {
                        format!("<{path}>")
                    } else {
                        path.to_string()
                    };
                    self.push(&format!("![]({dest})"));
                    Some(())
                }
                None => self.raw(e.span.clone()),
            },
            _ => self.raw(e.span.clone()),
        }
    }
}

fn plain_destination(href: &str) -> bool {
    !href.is_empty()
        && !href.contains(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>' | '|'))
}

/// The title of `<ac:link><ri:page ri:content-title="T" /></ac:link>`.
fn page_link<'a>(e: &Element<'a>) -> Option<&'a str> {
    let [Node::Element(page)] = e.children.as_slice() else {
        return None;
    };
    match (e.attrs.is_empty(), page.name, page.attrs.as_slice()) {
        (true, "ri:page", [("ri:content-title", title)])
            if page.self_closing
                && !title.is_empty()
                && !title.contains(['[', ']', '|', '\n', '\r']) =>
        {
            Some(title)
        }
        _ => None,
    }
}

/// The file name of `<ac:image><ri:attachment ri:filename="F" /></ac:image>`.
fn attachment_image<'a>(e: &Element<'a>) -> Option<&'a str> {
    let [Node::Element(attachment)] = e.children.as_slice() else {
        return None;
    };
    match (
        e.attrs.is_empty(),
        attachment.name,
        attachment.attrs.as_slice(),
    ) {
        (true, "ri:attachment", [("ri:filename", name)])
            if attachment.self_closing && !name.is_empty() =>
        {
            Some(name)
        }
        _ => None,
    }
}
