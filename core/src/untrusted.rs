//! Text that came from a plugin or a remote, made safe to print.
//!
//! Anything a plugin or remote chose (error messages, titles, ids, log lines,
//! manifest descriptions, watermarks, URLs) may hold terminal escape
//! sequences, line breaks that forge log lines, bidirectional overrides that
//! reorder what a reader sees, or megabytes of text. Every such string passes
//! through [`Untrusted`] (or [`render`]) before it reaches a terminal, a log
//! line or a table cell: control characters, line breaks, bidi controls and
//! other invisible format characters become visible `\u{..}` escapes, and the
//! text is clipped to a byte budget with a note of how much was cut.

use std::fmt;

/// Default budget for one untrusted string in a message: enough for any
/// honest error, small enough that a hostile one cannot flood a terminal.
pub const DEFAULT_MAX_BYTES: usize = 2048;

/// An untrusted string, displayed escaped and clipped.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a> {
    text: &'a str,
    max_bytes: usize,
}

impl<'a> Untrusted<'a> {
    /// `text`, clipped to [`DEFAULT_MAX_BYTES`] when displayed.
    pub fn new(text: &'a str) -> Self {
        Untrusted {
            text,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// `text`, clipped to `max_bytes` of escaped output when displayed.
    pub fn clipped(text: &'a str, max_bytes: usize) -> Self {
        Untrusted { text, max_bytes }
    }
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = 0usize;
        for (offset, c) in self.text.char_indices() {
            let escaped = needs_escape(c);
            let width = if escaped { 10 } else { c.len_utf8() };
            if written + width > self.max_bytes {
                let rest = self.text.len() - offset;
                return write!(f, "… [{rest} more bytes]");
            }
            if escaped {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else {
                write!(f, "{c}")?;
            }
            written += width;
        }
        Ok(())
    }
}

/// `text` escaped and clipped to [`DEFAULT_MAX_BYTES`], as an owned string.
pub fn render(text: &str) -> String {
    Untrusted::new(text).to_string()
}

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls
/// (escape sequences, line breaks, backspace), DEL, bidirectional controls
/// (which reorder what a reader sees), and the invisible format characters
/// that hide text (zero-width, BOM, line and paragraph separators).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Removes what a terminal would interpret from text the host composed
/// around untrusted parts, keeping its own line breaks and tabs: the last
/// guard before a message is printed, for parts that missed [`Untrusted`].
pub fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c == '\n' || c == '\t') || !needs_escape(c) {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", c as u32)
            }
        })
        .collect()
}

/// JSON text as serde_json writes it, with the characters it leaves raw but
/// a terminal would interpret (DEL, C1 controls, bidi controls, invisible
/// format characters) written as `\uXXXX` escapes: the same JSON value,
/// safe to print. Outside strings serde_json writes only ASCII punctuation,
/// spaces and line breaks, so every such character is inside a string.
pub fn terminal_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && needs_escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        let hostile = "ok\u{1b}[2J\r\nFAKE LINE\u{202e}txt.exe\u{7f}\u{9b}";
        let shown = render(hostile);
        assert_eq!(
            shown,
            "ok\\u{1b}[2J\\u{d}\\u{a}FAKE LINE\\u{202e}txt.exe\\u{7f}\\u{9b}"
        );
        assert!(!shown.chars().any(needs_escape));
    }

    #[test]
    fn honest_text_is_unchanged() {
        let text = "Page 12 «Résumé» — 日本語 (HTTP 404)";
        assert_eq!(render(text), text);
    }

    #[test]
    fn long_text_is_clipped_with_a_note() {
        let text = "é".repeat(10_000);
        let shown = Untrusted::clipped(&text, 100).to_string();
        assert!(shown.len() < 140, "{}", shown.len());
        assert!(shown.ends_with("… [19900 more bytes]"), "{shown}");
        // Escapes count against the budget too.
        let escapes = "\u{1b}".repeat(1000);
        assert!(Untrusted::clipped(&escapes, 100).to_string().len() < 140);
    }

    #[test]
    fn json_stays_the_same_value_and_safe_to_print() {
        let value =
            serde_json::json!({"s": "a\u{1b}[2J\r\n\u{7f}\u{9b}\u{202e}\u{feff}é", "n": [1, 2]});
        for json in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let safe = terminal_safe_json(&json);
            assert!(
                !safe.chars().any(|c| c != '\n' && needs_escape(c)),
                "{safe}"
            );
            assert!(safe.contains("\\u202e") && safe.contains('é'), "{safe}");
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
                value
            );
        }
    }

    #[test]
    fn the_last_guard_keeps_line_breaks_and_drops_escapes() {
        assert_eq!(
            terminal_safe("line one\n\tline two\u{1b}]0;title\u{7}"),
            "line one\n\tline two\\u{1b}]0;title\\u{7}"
        );
    }
}
