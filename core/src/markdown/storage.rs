//! A reader of Confluence storage format that keeps every byte's place.
//!
//! Storage format is XHTML with `ac:`/`ri:` prefixes nobody declares and
//! HTML entities (`&nbsp;`) XML does not define, so no XML parser takes it
//! as it is. This reader only tokenizes: elements (name, raw attributes,
//! the byte span of the whole element and of its inside), text (entities
//! left as written), CDATA sections, and everything else (comments,
//! processing instructions, declarations) as opaque spans. It never
//! recurses: a stack bounded by [`MAX_DEPTH`] builds the tree, so a hostile
//! body gets an error, not a stack overflow.

use std::ops::Range;

/// Deepest nesting of elements the reader accepts.
pub const MAX_DEPTH: usize = 64;

/// One node of a body, with byte ranges into the body.
#[derive(Debug)]
pub enum Node<'a> {
    /// Text, entities as written.
    Text(Range<usize>),
    Element(Element<'a>),
    /// A CDATA section: `span` is the whole section, `inner` its content.
    Cdata {
        span: Range<usize>,
        inner: Range<usize>,
    },
    /// A comment, processing instruction or declaration.
    Other(Range<usize>),
}

impl Node<'_> {
    pub fn span(&self) -> Range<usize> {
        match self {
            Node::Text(span) | Node::Other(span) | Node::Cdata { span, .. } => span.clone(),
            Node::Element(element) => element.span.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Element<'a> {
    pub name: &'a str,
    /// Attribute names and values as written (entities not decoded).
    pub attrs: Vec<(&'a str, &'a str)>,
    /// From `<` of the start tag to `>` of the end tag.
    pub span: Range<usize>,
    /// Where the start tag ends.
    pub open_end: usize,
    pub self_closing: bool,
    pub children: Vec<Node<'a>>,
}

impl Element<'_> {
    /// The value of attribute `name`, as written.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Why a body is not read as a tree (it is then kept as one raw block).
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

/// The top-level nodes of `src`.
pub fn parse(src: &str) -> Result<Vec<Node<'_>>, ParseError> {
    let bytes = src.as_bytes();
    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'<' {
            let end = memchr::memchr(b'<', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            add(&mut stack, &mut top, Node::Text(pos..end));
            pos = end;
            continue;
        }
        let rest = &src[pos..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or(ParseError("an unclosed comment"))?;
            let end = pos + 4 + end + 3;
            add(&mut stack, &mut top, Node::Other(pos..end));
            pos = end;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let len = after
                .find("]]>")
                .ok_or(ParseError("an unclosed CDATA section"))?;
            let inner = pos + 9..pos + 9 + len;
            let span = pos..inner.end + 3;
            pos = span.end;
            add(&mut stack, &mut top, Node::Cdata { span, inner });
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            let end = rest
                .find('>')
                .ok_or(ParseError("an unclosed declaration"))?;
            add(&mut stack, &mut top, Node::Other(pos..pos + end + 1));
            pos += end + 1;
        } else if let Some(after) = rest.strip_prefix("</") {
            let name_len = name_length(after);
            let name = &after[..name_len];
            let close = after[name_len..]
                .find('>')
                .filter(|&i| after[name_len..name_len + i].trim().is_empty())
                .ok_or(ParseError("a malformed end tag"))?;
            let end = pos + 2 + name_len + close + 1;
            let mut element = stack.pop().ok_or(ParseError("an end tag without start"))?;
            if element.name != name || name.is_empty() {
                return Err(ParseError("mismatched tags"));
            }
            element.span.end = end;
            add(&mut stack, &mut top, Node::Element(element));
            pos = end;
        } else {
            let (element, end) = start_tag(src, pos)?;
            pos = end;
            if element.self_closing {
                add(&mut stack, &mut top, Node::Element(element));
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError("elements nested too deeply"));
                }
                stack.push(element);
            }
        }
    }
    if !stack.is_empty() {
        return Err(ParseError("an unclosed element"));
    }
    Ok(top)
}

fn add<'a>(stack: &mut [Element<'a>], top: &mut Vec<Node<'a>>, node: Node<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => top.push(node),
    }
}

fn name_length(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
        .count()
}

/// The start tag at `pos` and where it ends.
fn start_tag(src: &str, pos: usize) -> Result<(Element<'_>, usize), ParseError> {
    let bytes = src.as_bytes();
    let mut at = pos + 1;
    let name_len = name_length(&src[at..]);
    if name_len == 0 || !bytes[at].is_ascii_alphabetic() {
        return Err(ParseError("a `<` that starts no tag"));
    }
    let name = &src[at..at + name_len];
    at += name_len;
    let mut attrs = Vec::new();
    loop {
        let spaces = src[at..]
            .bytes()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        at += spaces;
        match bytes.get(at) {
            None => return Err(ParseError("an unclosed start tag")),
            Some(b'>') => {
                return Ok((element(name, attrs, pos..at + 1, false), at + 1));
            }
            Some(b'/') if bytes.get(at + 1) == Some(&b'>') => {
                return Ok((element(name, attrs, pos..at + 2, true), at + 2));
            }
            Some(_) if spaces == 0 && !attrs.is_empty() => {
                return Err(ParseError("attributes without space between them"));
            }
            Some(_) => {}
        }
        let attr_len = name_length(&src[at..]);
        if attr_len == 0 {
            return Err(ParseError("a malformed attribute"));
        }
        let attr = &src[at..at + attr_len];
        at += attr_len;
        at += src[at..]
            .bytes()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if bytes.get(at) != Some(&b'=') {
            return Err(ParseError("an attribute without value"));
        }
        at += 1;
        at += src[at..]
            .bytes()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let quote = match bytes.get(at) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(ParseError("an unquoted attribute value")),
        };
        let len = memchr::memchr(quote, &bytes[at + 1..])
            .ok_or(ParseError("an unclosed attribute value"))?;
        let value = &src[at + 1..at + 1 + len];
        if value.contains('<') {
            return Err(ParseError("`<` in an attribute value"));
        }
        attrs.push((attr, value));
        at += len + 2;
    }
}

fn element<'a>(
    name: &'a str,
    attrs: Vec<(&'a str, &'a str)>,
    span: Range<usize>,
    self_closing: bool,
) -> Element<'a> {
    Element {
        name,
        attrs,
        open_end: span.end,
        span,
        self_closing,
        children: Vec::new(),
    }
}

/// Where the one node starting at `pos` (an element with everything inside
/// it, a comment or a CDATA section) ends, if it is well formed.
pub fn node_end(src: &str, pos: usize) -> Option<usize> {
    let rest = &src[pos..];
    if let Some(after) = rest.strip_prefix("<!--") {
        return after.find("-->").map(|i| pos + 4 + i + 3);
    }
    if let Some(after) = rest.strip_prefix("<![CDATA[") {
        return after.find("]]>").map(|i| pos + 9 + i + 3);
    }
    let (first, mut at) = start_tag(src, pos).ok()?;
    if first.self_closing {
        return Some(at);
    }
    let mut depth = 1usize;
    while depth > 0 {
        let next = at + memchr::memchr(b'<', &src.as_bytes()[at..])?;
        let rest = &src[next..];
        if rest.starts_with("<!--") || rest.starts_with("<![CDATA[") {
            at = node_end(src, next)?;
        } else if let Some(after) = rest.strip_prefix("</") {
            at = next + 2 + after.find('>')? + 1;
            depth -= 1;
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            at = next + rest.find('>')? + 1;
        } else {
            let (element, end) = start_tag(src, next).ok()?;
            at = end;
            if !element.self_closing {
                depth += 1;
                if depth > MAX_DEPTH {
                    return None;
                }
            }
        }
    }
    // The whole span must read as one well-formed element.
    match parse(&src[pos..at]).ok()?.as_slice() {
        [Node::Element(_)] => Some(at),
        _ => None,
    }
}

/// `s` with the entities XML and HTML define most often decoded; `None`
/// when it holds another entity or a bare `&`.
pub fn decode_basic(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').filter(|&e| e <= 10)?;
        out.push(entity(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The character of an entity name (`amp`, `#38`, `#x26`, `nbsp`, ...).
pub fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|&c| c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "euro" => '€',
        "pound" => '£',
        "rarr" => '→',
        "larr" => '←',
        "laquo" => '«',
        "raquo" => '»',
        _ => return None,
    })
}

/// `s` escaped for XML text: `&`, `<` and `>`.
pub fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Text the user wrote with entities kept as written: `<` and `>` become
/// `&lt;`/`&gt;`, a `&` that starts no entity `&amp;`; `"` too in
/// attribute values.
pub fn escape_keeping_entities(s: &str, attribute: bool, out: &mut String) {
    for (at, c) in s.char_indices() {
        match c {
            '&' if !starts_entity(&s[at..]) => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Whether `s` (starting with `&`) starts with an entity reference.
pub fn starts_entity(s: &str) -> bool {
    let body = &s[1..];
    let Some(end) = body.find(';').filter(|&e| (1..=32).contains(&e)) else {
        return false;
    };
    let name = &body[..end];
    match name.strip_prefix('#') {
        Some(number) => match number.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        },
        None => name.bytes().all(|b| b.is_ascii_alphanumeric()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_their_spans() {
        let src = r#"<p>a &amp; <ac:link><ri:page ri:content-title="T" /></ac:link></p><hr />"#;
        let nodes = parse(src).unwrap();
        assert_eq!(nodes.len(), 2);
        let Node::Element(p) = &nodes[0] else {
            panic!()
        };
        assert_eq!(p.name, "p");
        assert_eq!(&src[p.span.clone()], &src[..src.find("<hr").unwrap()]);
        let Node::Element(link) = &p.children[1] else {
            panic!()
        };
        let Node::Element(page) = &link.children[0] else {
            panic!()
        };
        assert_eq!(page.attr("ri:content-title"), Some("T"));
        assert!(page.self_closing);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for bad in [
            "<p>",
            "</p>",
            "<p></q>",
            "<p a=b></p>",
            "<!-- x",
            "<![CDATA[",
            "<",
            "<p a=\"x\"b=\"y\"></p>",
            "<1>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "<div>".repeat(MAX_DEPTH + 1) + &"</div>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        let ok = "<div>".repeat(MAX_DEPTH) + &"</div>".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn node_end_finds_one_balanced_element() {
        let src = "x <u>a<b>c</b></u> y";
        assert_eq!(node_end(src, 2), Some(src.find(" y").unwrap()));
        assert_eq!(node_end("<b>", 0), None);
        assert_eq!(node_end("<b></i>", 0), None);
        assert_eq!(node_end("<!-- c --> x", 0), Some(10));
    }

    #[test]
    fn entities_decode_or_refuse() {
        assert_eq!(
            decode_basic("a &lt; b &amp;&#65;&#x42;").unwrap(),
            "a < b &AB"
        );
        assert_eq!(decode_basic("a & b"), None);
        assert_eq!(decode_basic("&unknown;"), None);
        assert!(starts_entity("&nbsp; x"));
        assert!(!starts_entity("& x;"));
    }
}
