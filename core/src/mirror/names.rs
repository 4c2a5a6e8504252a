//! File names for the mirror: what a title, id or blob name becomes on disk.
//!
//! The rule, in one place: a planned name is NFC, at most 255 bytes, has no
//! separator, reserved or invisible character (controls, bidi overrides,
//! zero-width and other default-ignorable code points, which HFS+ drops and
//! a reader cannot see), no leading or trailing space, no trailing dot, is no
//! Windows device name (`CON`, `COM¹`, `CONIN$`, ... with any extension), has
//! no 8.3 short-name tail (`GIT~1`), and **never starts with a dot**. The
//! last rule keeps every name that tools execute or trust (`.git` in any
//! case or spelling, `.envrc`, `.vscode`, `.github`, `.hg`, `.gitattributes`,
//! ...) out of the mirror, and makes the mirror's own files (the manifest,
//! temporary files), which all start with a dot, impossible to plan.

use std::path::Path;

use unicode_normalization::UnicodeNormalization;

/// Longest file-name stem, in bytes (most file systems allow 255).
pub(super) const MAX_NAME_BYTES: usize = 120;
/// Longest name after telling it apart, leaving room for the extension a
/// content file gets (file systems allow 255 bytes).
pub(super) const MAX_DISAMBIGUATED_BYTES: usize = 240;
/// Longest id put into a name to tell it apart (`Name [id]`).
pub(super) const MAX_ID_IN_NAME: usize = 64;
/// Longest name any file system the mirror targets accepts.
const MAX_FILE_NAME_BYTES: usize = 255;

/// A name safe on every common file system and for every tool that looks
/// into a directory (see the module documentation); `fallback` (an id) when
/// nothing is left of `name`.
pub fn sanitize(name: &str, fallback: &str) -> String {
    let clean = clean(name);
    defuse(if clean.is_empty() {
        sanitize_fallback(fallback)
    } else {
        clean
    })
}

/// `name` in NFC without unsafe characters, trimmed and bounded; may be empty.
fn clean(name: &str) -> String {
    let replaced: String = name
        .nfc()
        .map(|c| if forbidden(c) { '_' } else { c })
        .collect();
    let mut clean = trim(&replaced).to_string();
    if clean.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
        clean = trim(&clean).to_string();
    }
    clean
}

/// Without leading white space and trailing white space and dots (Windows
/// drops trailing dots and spaces, so `.git.` and `.git ` are `.git`).
fn trim(name: &str) -> &str {
    name.trim_start()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Names that must not be written as they are get a `_`: a leading dot gets
/// one in front, a Windows device name one after its stem, an 8.3 tail
/// (`~1`) one instead of the `~`.
fn defuse(mut name: String) -> String {
    if name.contains('~') {
        name = short_name_tails(&name);
    }
    if reserved_on_windows(&name) {
        // Windows reserves the stem whatever the extension: `com1_.txt`.
        let stem_len = name.find('.').unwrap_or(name.len());
        name.insert(stem_len, '_');
    }
    if name.starts_with('.') {
        name.insert(0, '_');
    }
    name
}

/// `GIT~1` -> `GIT_1`: Windows may answer an 8.3 short name with the file
/// of the long name it abbreviates (`.git`), so no name carries one.
fn short_name_tails(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters no planned name holds: separators, characters Windows
/// reserves, and every character that is invisible or reorders text.
fn forbidden(c: char) -> bool {
    matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || invisible(c)
}

/// Controls, bidirectional controls, and the default-ignorable code points
/// (zero-width characters, joiners, variation selectors, tags, fillers),
/// which HFS+ ignores in names and terminals do not show.
pub(super) fn invisible(c: char) -> bool {
    crate::untrusted::needs_escape(c)
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fffb}'
                | '\u{fffe}'..='\u{ffff}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Whether Windows treats `name` as a device whatever its extension:
/// `CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9` (and with the
/// superscripts `¹²³`, which Windows also accepts as digits), `CONIN$`,
/// `CONOUT$`, `CLOCK$`.
fn reserved_on_windows(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let stem = stem.to_uppercase();
    if matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$"
    ) {
        return true;
    }
    let mut chars = stem.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let (Some(digit), None) = (chars.next(), chars.next()) else {
        return false;
    };
    matches!(prefix.as_str(), "COM" | "LPT") && matches!(digit, '0'..='9' | '¹' | '²' | '³')
}

/// An id as a name: ASCII letters, digits, `-` and `_`, at most
/// [`MAX_NAME_BYTES`] long (ids may be up to 1024 bytes).
fn sanitize_fallback(id: &str) -> String {
    let clean: String = id
        .chars()
        .take(MAX_NAME_BYTES)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "_".into()
    } else {
        clean
    }
}

/// `Name [id]`, keeping an extension in place (`photo [att1].png`); from the
/// second attempt on, `Name [id-2]` and so on. `name` must be safe (a
/// [`sanitize`] result, or one with an extension added); so is the result.
pub(super) fn disambiguate(name: &str, id: &str, attempt: u32) -> String {
    let mut id = sanitize_fallback(id);
    // Ids may be long; the name must stay under 255 bytes.
    id.truncate(MAX_ID_IN_NAME);
    if attempt > 1 {
        id = format!("{id}-{attempt}");
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 8 && !ext.contains(' ') => {
            (stem, format!(".{ext}"))
        }
        _ => (name, String::new()),
    };
    // A name told apart twice (among siblings, then among files) must
    // still fit: the stem gives way.
    let suffix = format!(" [{id}]");
    let mut end = stem
        .len()
        .min(MAX_DISAMBIGUATED_BYTES.saturating_sub(suffix.len() + ext.len()));
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..end])
}

/// A name or path as the file systems the mirror may live on compare it:
/// case-insensitive (full case folding, so `ß` meets `SS`) and
/// normalization-insensitive (NFC and NFD twins meet, as on macOS).
pub(super) fn folded(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd()
        .collect::<String>()
        .to_uppercase()
        .to_lowercase()
        .nfd()
        .collect()
}

/// A path (relative, `/`-separated) as [`folded`] compares it.
pub(super) fn folded_path(path: &Path) -> String {
    folded(&path.to_string_lossy())
}

/// Why `name` is not one the planner could produce, if it is not.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an empty name");
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Some("a name over 255 bytes");
    }
    if name.starts_with('.') {
        return Some("a name that starts with a dot");
    }
    if name.chars().any(forbidden) {
        return Some("a separator, reserved or invisible character");
    }
    if trim(name) != name {
        return Some("leading or trailing white space or a trailing dot");
    }
    if reserved_on_windows(name) {
        return Some("a reserved Windows name");
    }
    if short_name_tails(name) != name {
        return Some("an 8.3 short-name tail (`~1`)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the mirror_paths fuzz target: a long id with no usable
    /// title made a name over 255 bytes.
    #[test]
    fn names_from_long_ids_stay_short() {
        let id = format!("{}{}", " ".repeat(40), "q".repeat(600));
        assert!(sanitize("..", &id).len() <= MAX_NAME_BYTES);
        assert!(disambiguate(&sanitize("x", &id), &id, 7).len() < 255);
        // Told apart twice (siblings, then files): still short.
        let once = disambiguate(&"_".repeat(MAX_NAME_BYTES), &id, 1);
        let twice = disambiguate(&format!("{once}.bin"), &id, 2);
        assert!(twice.len() <= MAX_DISAMBIGUATED_BYTES, "{}", twice.len());
        assert!(twice.ends_with("-2].bin"), "{twice}");
    }

    #[test]
    fn names_are_safe_everywhere() {
        assert_eq!(sanitize("a/b: c?", "1"), "a_b_ c_");
        assert_eq!(sanitize("trailing dots...  ", "1"), "trailing dots");
        assert_eq!(sanitize("CON", "1"), "CON_");
        assert_eq!(sanitize("com1.txt", "1"), "com1_.txt");
        assert_eq!(sanitize("..", "42"), "42");
        assert_eq!(sanitize("", "att/7"), "att_7");
        assert_eq!(sanitize("日本語のページ", "1"), "日本語のページ");
        assert!(sanitize(&"é".repeat(200), "1").len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn names_tools_trust_never_appear_as_written() {
        for (title, name) in [
            (".git", "_.git"),
            (".GIT", "_.GIT"),
            (".git.", "_.git"),
            (".git ", "_.git"),
            (" .git", "_.git"),
            (".git::$INDEX_ALLOCATION", "_.git__$INDEX_ALLOCATION"),
            ("GIT~1", "GIT_1"),
            ("git~1.txt", "git_1.txt"),
            (".g\u{200c}it", "_.g_it"),
            (".gi\u{feff}t", "_.gi_t"),
            (".envrc", "_.envrc"),
            (".vscode", "_.vscode"),
            (".github", "_.github"),
            (".synchost-mirror.json", "_.synchost-mirror.json"),
            (".123.synchost-tmp", "_.123.synchost-tmp"),
            ("report.pdf", "report.pdf"),
            ("a~b", "a~b"),
        ] {
            assert_eq!(sanitize(title, "id"), name, "{title:?}");
            assert_eq!(unsafe_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn windows_devices_get_a_mark_in_every_spelling() {
        for (title, name) in [
            ("COM¹", "COM¹_"),
            ("lpt².txt", "lpt²_.txt"),
            ("CONIN$", "CONIN$_"),
            ("conout$.log", "conout$_.log"),
            ("CLOCK$", "CLOCK$_"),
            ("COM0", "COM0_"),
            ("nul .txt", "nul _.txt"),
            ("COM10", "COM10"),
            ("CONSOLE", "CONSOLE"),
        ] {
            assert_eq!(sanitize(title, "id"), name, "{title:?}");
        }
        // An id is a name too.
        assert_eq!(sanitize("", "con"), "con_");
    }

    #[test]
    fn invisible_and_reordering_characters_become_visible() {
        assert_eq!(sanitize("abc\u{202e}gpj.exe", "1"), "abc_gpj.exe");
        assert_eq!(sanitize("a\u{200b}b\u{2066}c", "1"), "a_b_c");
        assert_eq!(sanitize("tag\u{e0041}", "1"), "tag_");
    }

    #[test]
    fn normalization_and_case_twins_fold_together() {
        let nfc = "Caf\u{e9}";
        let nfd = "Cafe\u{301}";
        assert_eq!(sanitize(nfd, "1"), nfc, "names are written in NFC");
        assert_eq!(folded(nfd), folded("CAF\u{c9}"));
        assert_eq!(folded("Stra\u{df}e"), folded("STRASSE"));
    }

    #[test]
    fn what_the_planner_never_writes_is_recognised() {
        for name in [
            "",
            ".synchost-mirror.json",
            "..",
            "a/b",
            "CON",
            "x.",
            " x",
            "GIT~1",
            "a\u{200d}",
        ] {
            assert!(unsafe_name(name).is_some(), "{name:?}");
        }
    }
}
