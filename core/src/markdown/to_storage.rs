//! Markdown -> storage format: the Markdown [`super::to_markdown`] writes,
//! and the Markdown a user adds (paragraphs, headings, lists, tables, code,
//! emphasis, links), as clean, escaped storage XML.

use super::storage::{escape_keeping_entities, escape_text, node_end, parse, starts_entity};
use std::collections::HashMap;

use super::{ConvertError, Links, GAP_MARKER, MACRO_ID, RAW_INFO};

/// Deepest nesting of block quotes and lists.
const MAX_BLOCK_DEPTH: usize = 16;
/// Deepest nesting of emphasis, links and strikethrough.
const MAX_INLINE_DEPTH: usize = 16;

/// The storage XML of a Markdown document.
pub fn document(md: &str, links: &Links) -> Result<String, ConvertError> {
    let lines: Vec<&str> = md.split('\n').collect();
    let lines = match lines.split_last() {
        Some((&"", rest)) => rest,
        _ => &lines[..],
    };
    let blocks = blocks(lines, links, 0)?;
    Ok(blocks.into_iter().map(|b| b.storage).collect())
}

/// The storage of the one Markdown block `md` (for the exporter's check).
pub fn block_storage(md: &str, links: &Links) -> Result<String, ConvertError> {
    let lines: Vec<&str> = md.split('\n').collect();
    match blocks(&lines, links, 0)?.as_slice() {
        [one] if !one.gap => Ok(one.storage.clone()),
        _ => Err(ConvertError::new("not one block")),
    }
}

struct Block {
    storage: String,
    /// For a paragraph: its inline content (a tight list item drops `<p>`).
    inline: Option<String>,
    /// A blank line came before it.
    blank_before: bool,
    /// A gap marker: white space between blocks.
    gap: bool,
}

impl Block {
    fn new(storage: String) -> Block {
        Block {
            storage,
            inline: None,
            blank_before: false,
            gap: false,
        }
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// A fence's character and length, and its info string.
fn fence(line: &str) -> Option<(char, usize, &str)> {
    let c = line.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let n = line.chars().take_while(|&x| x == c).count();
    let info = line[n..].trim();
    (n >= 3 && !(c == '`' && info.contains('`'))).then_some((c, n, info))
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t'])))
        .then(|| (level, rest.trim_matches([' ', '\t'])))
}

fn thematic_break(line: &str) -> bool {
    let mut chars = line.chars().filter(|c| !matches!(c, ' ' | '\t'));
    let Some(first) = chars.next().filter(|c| matches!(c, '-' | '*' | '_')) else {
        return false;
    };
    let rest: Vec<char> = chars.collect();
    rest.len() >= 2 && rest.iter().all(|&c| c == first)
}

/// A list item's marker: (ordered delimiter or bullet, start number,
/// content column).
fn list_marker(line: &str) -> Option<(char, u64, usize)> {
    let first = line.chars().next()?;
    if matches!(first, '-' | '*' | '+') {
        let rest = &line[1..];
        return (rest.is_empty() || rest.starts_with(' ')).then_some((first, 0, 2));
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=9).contains(&digits) {
        return None;
    }
    let delimiter = *line
        .as_bytes()
        .get(digits)
        .filter(|b| matches!(b, b'.' | b')'))?;
    let rest = &line[digits + 1..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| {
        (
            char::from(delimiter),
            line[..digits].parse().unwrap_or(1),
            digits + 2,
        )
    })
}

fn gap_marker(line: &str) -> Option<String> {
    if line == "<!-- -->" {
        return Some(String::new());
    }
    let json = line.strip_prefix(GAP_MARKER)?.strip_suffix(" -->")?;
    serde_json::from_str::<String>(json).ok()
}

/// `<!-- <table ...> -->` before a table: the table's start tag.
fn table_open(line: &str) -> Option<&str> {
    let open = line.strip_prefix("<!-- ")?.strip_suffix(" -->")?;
    match parse(&format!("{open}</table>")).ok()?.as_slice() {
        [super::storage::Node::Element(e)] if e.name == "table" && e.children.is_empty() => {
            Some(open)
        }
        _ => None,
    }
}

fn table_row_start(line: &str) -> bool {
    line.starts_with('|')
}

fn delimiter_row(line: &str) -> bool {
    let cells = split_row(line);
    !cells.is_empty()
        && cells.iter().all(|cell| {
            let cell = cell.trim();
            let core = cell.trim_start_matches(':').trim_end_matches(':');
            !core.is_empty() && core.bytes().all(|b| b == b'-')
        })
}

/// The cells of a table row: split at `|` not escaped by `\`.
fn split_row(line: &str) -> Vec<&str> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = match line.strip_suffix('|') {
        Some(rest) if !rest.ends_with('\\') => rest,
        _ => line,
    };
    let mut cells = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        match c {
            '\\' if !escaped => {
                escaped = true;
                continue;
            }
            '|' if !escaped => {
                cells.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        escaped = false;
    }
    cells.push(&line[start..]);
    cells
}

/// Whether `line` starts a block other than a paragraph (and so ends one).
fn interrupts(line: &str) -> bool {
    fence(line).is_some()
        || heading(line).is_some()
        || thematic_break(line)
        || line.starts_with('>')
        || list_marker(line).is_some_and(|(_, _, col)| line.len() > col)
        || gap_marker(line).is_some()
}

fn blocks(lines: &[&str], links: &Links, depth: usize) -> Result<Vec<Block>, ConvertError> {
    if depth > MAX_BLOCK_DEPTH {
        return Err(ConvertError::new("lists or block quotes nested too deeply"));
    }
    let mut out: Vec<Block> = Vec::new();
    let mut i = 0;
    let mut blank = false;
    while i < lines.len() {
        let line = lines[i];
        if is_blank(line) {
            blank = true;
            i += 1;
            continue;
        }
        let mut block = if let Some((c, n, info)) = fence(line) {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() {
                let l = lines[end];
                let run = l.chars().take_while(|&x| x == c).count();
                if run >= n && l[run..].trim().is_empty() {
                    break;
                }
                end += 1;
            }
            let content = lines[start..end].join("\n");
            i = (end + 1).min(lines.len());
            if info == RAW_INFO {
                Block::new(content)
            } else {
                Block::new(code_macro(info, &content)?)
            }
        } else if let Some(gap) = gap_marker(line) {
            i += 1;
            Block {
                gap: true,
                ..Block::new(gap)
            }
        } else if let Some((level, text)) = heading(line) {
            i += 1;
            Block::new(format!(
                "<h{level}>{}</h{level}>",
                inline(text, links, false)?
            ))
        } else if thematic_break(line) {
            i += 1;
            Block::new("<hr />".into())
        } else if line.starts_with('>') {
            let mut inner = Vec::new();
            while i < lines.len() && lines[i].starts_with('>') {
                let l = &lines[i][1..];
                inner.push(l.strip_prefix(' ').unwrap_or(l));
                i += 1;
            }
            let content: String = blocks(&inner, links, depth + 1)?
                .into_iter()
                .map(|b| b.storage)
                .collect();
            Block::new(format!("<blockquote>{content}</blockquote>"))
        } else if list_marker(line).is_some() {
            let (storage, next) = list(lines, i, links, depth)?;
            i = next;
            Block::new(storage)
        } else if let Some(open) =
            table_open(line).filter(|_| i + 2 < lines.len() + 1 && is_table(lines, i + 1))
        {
            let (storage, next) = table(open, lines, i + 1, links)?;
            i = next;
            Block::new(storage)
        } else if is_table(lines, i) {
            let (storage, next) = table("<table>", lines, i, links)?;
            i = next;
            Block::new(storage)
        } else {
            let start = i;
            i += 1;
            while i < lines.len() && !is_blank(lines[i]) && !interrupts(lines[i]) {
                i += 1;
            }
            let text = lines[start..i].join("\n");
            let content = inline(&text, links, false)?;
            Block {
                storage: format!("<p>{content}</p>"),
                inline: Some(content),
                ..Block::new(String::new())
            }
        };
        block.blank_before = blank;
        blank = false;
        out.push(block);
    }
    Ok(out)
}

fn is_table(lines: &[&str], i: usize) -> bool {
    table_row_start(lines[i]) && lines.get(i + 1).is_some_and(|l| delimiter_row(l))
}

fn table(
    open: &str,
    lines: &[&str],
    start: usize,
    links: &Links,
) -> Result<(String, usize), ConvertError> {
    let columns = split_row(lines[start]).len();
    let mut out = format!("{open}<tbody>");
    let mut i = start;
    while i < lines.len() && table_row_start(lines[i]) {
        if i == start + 1 {
            i += 1;
            continue;
        }
        let cell = if i == start { "th" } else { "td" };
        let mut cells = split_row(lines[i]);
        cells.resize(columns, "");
        out.push_str("<tr>");
        for text in cells {
            let text = text.trim();
            if text.is_empty() {
                out.push_str(&format!("<{cell}><p /></{cell}>"));
            } else {
                out.push_str(&format!(
                    "<{cell}><p>{}</p></{cell}>",
                    inline(text, links, true)?
                ));
            }
        }
        out.push_str("</tr>");
        i += 1;
    }
    out.push_str("</tbody></table>");
    Ok((out, i))
}

fn list(
    lines: &[&str],
    start: usize,
    links: &Links,
    depth: usize,
) -> Result<(String, usize), ConvertError> {
    let (kind, first_number, _) = list_marker(lines[start]).expect("a list marker");
    let mut items: Vec<Vec<Block>> = Vec::new();
    let mut loose = false;
    let mut i = start;
    while i < lines.len() {
        let Some((k, _, col)) = list_marker(lines[i]).filter(|(k, _, _)| *k == kind) else {
            break;
        };
        let mut content: Vec<&str> = vec![lines[i].get(col..).unwrap_or("")];
        i += 1;
        let mut next_item = false;
        while i < lines.len() {
            let l = lines[i];
            if is_blank(l) {
                let j = (i..lines.len())
                    .find(|&j| !is_blank(lines[j]))
                    .unwrap_or(lines.len());
                if j < lines.len() && indent(lines[j]) >= col {
                    content.extend(lines[i..j].iter().map(|l| l.get(col..).unwrap_or("")));
                    i = j;
                    continue;
                }
                if j < lines.len() && list_marker(lines[j]).is_some_and(|(kk, _, _)| kk == k) {
                    loose = true;
                    i = j;
                    next_item = true;
                }
                break;
            }
            if indent(l) >= col {
                content.push(&l[col..]);
                i += 1;
            } else {
                next_item = list_marker(l).is_some_and(|(kk, _, _)| kk == k);
                break;
            }
        }
        let item = blocks(&content, links, depth + 1)?;
        loose |= item.iter().skip(1).any(|b| b.blank_before);
        items.push(item);
        if !next_item {
            break;
        }
    }
    let tag = match kind {
        '-' | '*' | '+' => "ul".to_string(),
        _ if first_number == 1 => "ol".to_string(),
        _ => format!("ol start=\"{first_number}\""),
    };
    let mut out = format!("<{tag}>");
    for item in items {
        out.push_str("<li>");
        for (index, block) in item.into_iter().enumerate() {
            match (&block.inline, loose, index) {
                (Some(inline), false, 0) => out.push_str(inline),
                _ => out.push_str(&block.storage),
            }
        }
        out.push_str("</li>");
    }
    out.push_str(if matches!(kind, '-' | '*' | '+') {
        "</ul>"
    } else {
        "</ol>"
    });
    Ok((out, i))
}

fn indent(line: &str) -> usize {
    line.bytes().take_while(|&b| b == b' ').count()
}

/// A code macro from a fence's info string (`rust`, `rust macro-id=ID`,
/// `text macro-id=ID` for none) and its code.
fn code_macro(info: &str, code: &str) -> Result<String, ConvertError> {
    let mut words = info.split_whitespace();
    let mut language = words.next().unwrap_or_default();
    let id = words.next().and_then(|w| w.strip_prefix(MACRO_ID));
    let mut out = String::from(r#"<ac:structured-macro ac:name="code" ac:schema-version="1""#);
    if let Some(id) = id {
        out.push_str(" ac:macro-id=\"");
        escape_keeping_entities(id, true, &mut out);
        out.push('"');
        if language == "text" {
            language = "";
        }
    }
    out.push('>');
    if !language.is_empty() {
        out.push_str(r#"<ac:parameter ac:name="language">"#);
        escape_text(language, &mut out);
        out.push_str("</ac:parameter>");
    }
    out.push_str("<ac:plain-text-body><![CDATA[");
    // `]]>` cannot stand in a CDATA section: split it across two.
    out.push_str(&code.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></ac:plain-text-body></ac:structured-macro>");
    Ok(out)
}

/// Inline Markdown as storage XML.
pub fn inline(text: &str, links: &Links, in_table: bool) -> Result<String, ConvertError> {
    let mut parser = InlineParser {
        text,
        links,
        in_table,
        unclosed: Vec::new(),
        spans: HashMap::new(),
        steps: text.len().saturating_mul(32).saturating_add(4096),
    };
    let (out, _) = parser.until(0, None, 0);
    Ok(out)
}

struct InlineParser<'a> {
    text: &'a str,
    links: &'a Links,
    in_table: bool,
    /// Closing marks known to have no match from here on.
    unclosed: Vec<&'static str>,
    /// What [`InlineParser::span`] found at each position it was asked
    /// about: nested brackets that turn out not to be links are not read
    /// again (which took exponential time).
    spans: HashMap<usize, Option<(String, usize)>>,
    /// Characters left to read before spans are no longer looked for (the
    /// rest reads as text): hostile input costs linear time.
    steps: usize,
}

impl InlineParser<'_> {
    /// Storage of `text[pos..]` up to `close` (preceded by no white space)
    /// and where it ended; with `close` given and not found, `None` as end.
    fn until(
        &mut self,
        mut pos: usize,
        close: Option<&'static str>,
        depth: usize,
    ) -> (String, Option<usize>) {
        let text = self.text;
        let mut out = String::new();
        while pos < text.len() {
            self.steps = self.steps.saturating_sub(1);
            let rest = &text[pos..];
            if let Some(close) = close {
                let before = text[..pos].chars().next_back();
                if rest.starts_with(close) && before.is_some_and(|c| !c.is_whitespace()) {
                    return (out, Some(pos + close.len()));
                }
            }
            let c = rest.chars().next().expect("not at the end");
            if c == '\\' {
                match rest[1..].chars().next() {
                    Some('\n') => {
                        out.push_str("<br />");
                        pos += 2;
                    }
                    Some(p) if p.is_ascii_punctuation() => {
                        match p {
                            '&' => out.push_str("&amp;"),
                            '<' => out.push_str("&lt;"),
                            p => out.push(p),
                        }
                        pos += 2;
                    }
                    _ => {
                        out.push('\\');
                        pos += 1;
                    }
                }
                continue;
            }
            if c == '`' {
                let n = rest.bytes().take_while(|&b| b == b'`').count();
                let fence = &rest[..n];
                if let Some(end) = find_code_end(&rest[n..], fence) {
                    let code = &rest[n..n + end];
                    out.push_str("<code>");
                    escape_text(code, &mut out);
                    out.push_str("</code>");
                    pos += n + end + n;
                } else {
                    out.push_str(fence);
                    pos += n;
                }
                continue;
            }
            if depth < MAX_INLINE_DEPTH {
                if let Some((storage, end)) = self.span(pos, depth) {
                    out.push_str(&storage);
                    pos = end;
                    continue;
                }
            }
            match c {
                '<' => match node_end(text, pos).filter(|_| {
                    rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '!')
                }) {
                    Some(end) => {
                        out.push_str(&text[pos..end]);
                        pos = end;
                        continue;
                    }
                    None => out.push_str("&lt;"),
                },
                '>' => out.push_str("&gt;"),
                '&' if starts_entity(rest) => out.push('&'),
                '&' => out.push_str("&amp;"),
                c => out.push(c),
            }
            pos += c.len_utf8();
        }
        (out, if close.is_some() { None } else { Some(pos) })
    }

    /// Emphasis, strikethrough, links, page links and images at `pos`.
    fn span(&mut self, pos: usize, depth: usize) -> Option<(String, usize)> {
        if self.steps == 0 {
            return None;
        }
        if let Some(known) = self.spans.get(&pos) {
            return known.clone();
        }
        let found = self.span_uncached(pos, depth);
        self.spans.insert(pos, found.clone());
        found
    }

    fn span_uncached(&mut self, pos: usize, depth: usize) -> Option<(String, usize)> {
        let rest = &self.text[pos..];
        for (open, close, tag) in [("**", "**", "strong"), ("~~", "~~", "s"), ("*", "*", "em")] {
            if let Some(inside) = rest.strip_prefix(open) {
                let after = inside.chars().next();
                if after.is_none_or(char::is_whitespace) || self.unclosed.contains(&close) {
                    return None;
                }
                let (inner, end) = self.until(pos + open.len(), Some(close), depth + 1);
                let Some(end) = end else {
                    self.unclosed.push(close);
                    return None;
                };
                return Some((format!("<{tag}>{inner}</{tag}>"), end));
            }
        }
        if let Some(after) = rest.strip_prefix("[[") {
            let end = after.find("]]")?;
            let title = &after[..end];
            if title.is_empty() || title.contains(['[', ']', '\n']) {
                return None;
            }
            let mut out = String::from(r#"<ac:link><ri:page ri:content-title=""#);
            escape_keeping_entities(title, true, &mut out);
            out.push_str(r#"" /></ac:link>"#);
            return Some((out, pos + 2 + end + 2));
        }
        if let Some(after) = rest.strip_prefix("![") {
            let end = after.find("](")?;
            if after[..end].contains(['[', ']', '\n']) {
                return None;
            }
            let dest_start = pos + 2 + end + 2;
            let (dest, end) = destination(self.text, dest_start)?;
            let mut out = String::from(r#"<ac:image><ri:attachment ri:filename=""#);
            escape_keeping_entities(self.links.filename_of(dest), true, &mut out);
            out.push_str(r#"" /></ac:image>"#);
            return Some((out, end));
        }
        if rest.starts_with('[') && !self.unclosed.contains(&"]") {
            let (inner, end) = self.until(pos + 1, Some("]"), depth + 1);
            let Some(end) = end else {
                self.unclosed.push("]");
                return None;
            };
            if !self.text[end..].starts_with('(') {
                return None;
            }
            let (dest, end) = destination(self.text, end + 1)?;
            if self.in_table && dest.contains('|') {
                return None;
            }
            let mut out = String::from("<a href=\"");
            escape_keeping_entities(dest, true, &mut out);
            out.push_str(&format!("\">{inner}</a>"));
            return Some((out, end));
        }
        None
    }
}

/// A link destination at `pos` (after `(`): `<...>` or up to `)`; with
/// where the `)` ends.
fn destination(text: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = &text[pos..];
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        let dest = &inner[..end];
        if dest.contains(['\n', '<']) || !inner[end + 1..].starts_with(')') {
            return None;
        }
        return Some((dest, pos + 1 + end + 2));
    }
    let end = rest.find(')')?;
    let dest = &rest[..end];
    (!dest.is_empty() && !dest.contains(|c: char| c.is_whitespace() || matches!(c, '(' | '<')))
        .then_some((dest, pos + end + 1))
}

/// Where the code span's closing run of exactly `fence` starts in `rest`.
fn find_code_end(rest: &str, fence: &str) -> Option<usize> {
    let mut at = 0;
    while let Some(found) = rest[at..].find(fence) {
        let start = at + found;
        let run = rest[start..].bytes().take_while(|&b| b == b'`').count();
        if run == fence.len() {
            return Some(start);
        }
        at = start + run;
    }
    None
}
