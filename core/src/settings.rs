//! A source's settings checked against the settings its plugin declares,
//! before `configure`: a missing required setting and a misspelled one are
//! named with what the plugin expects, rather than left to the plugin (or
//! to the host's `allowed_hosts` check) to fail on in other words.

use crate::untrusted::Untrusted;

/// A setting as the plugin's manifest declares it.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    pub name: &'a str,
    pub required: bool,
    pub has_default: bool,
}

/// Whether `given` (the source's setting names) fit `declared`: `Err` with
/// the message for a name that is a near miss of a declared one (see
/// [`near_miss`]) or a required setting without a value or default; else
/// the warning, if any, for the names the plugin does not declare.
///
/// A dotted name (`tasks.primary_key`, a per-table setting) is checked by
/// its part after the last dot.
pub fn check(given: &[&str], declared: &[Declared]) -> Result<Option<String>, String> {
    let known = |name: &str| declared.iter().any(|d| d.name == name);
    let mut unknown = Vec::new();
    for &name in given {
        if known(name) {
            continue;
        }
        let (prefix, last) = match name.rsplit_once('.') {
            Some((prefix, last)) => (Some(prefix), last),
            None => (None, name),
        };
        if prefix.is_some() && known(last) {
            continue;
        }
        let meant = declared
            .iter()
            .find(|d| near_miss(last, d.name))
            .map(|meant| match prefix {
                Some(prefix) => format!("{prefix}.{}", meant.name),
                None => meant.name.to_string(),
            })
            // Set as well: this one is deliberate.
            .filter(|meant| !given.contains(&meant.as_str()));
        if let Some(meant) = meant {
            return Err(format!(
                "unknown setting `{}`: did you mean `{}`? (the plugin's settings: {})",
                Untrusted::clipped(name, 200),
                Untrusted::clipped(&meant, 200),
                listing(declared)
            ));
        }
        unknown.push(format!("`{}`", Untrusted::clipped(name, 200)));
    }
    let missing = declared
        .iter()
        .find(|d| d.required && !d.has_default && !given.contains(&d.name));
    if let Some(missing) = missing {
        let required: Vec<String> = declared
            .iter()
            .filter(|d| d.required)
            .map(|d| Untrusted::clipped(d.name, 200).to_string())
            .collect();
        return Err(format!(
            "the required setting `{}` is not set (required: {}; set them in the source's \
             [settings] or with --set NAME=VALUE)",
            Untrusted::clipped(missing.name, 200),
            required.join(", ")
        ));
    }
    if unknown.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "the plugin declares no setting {}; passed on, may be ignored (the plugin's settings: {})",
        unknown.join(", "),
        listing(declared)
    )))
}

/// `name (required), other, ...`, or `none` when the plugin declares none.
fn listing(declared: &[Declared]) -> String {
    if declared.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = declared
        .iter()
        .map(|d| {
            let name = Untrusted::clipped(d.name, 200);
            if d.required {
                format!("{name} (required)")
            } else {
                name.to_string()
            }
        })
        .collect();
    names.join(", ")
}

/// `given` is likely a misspelling of `declared`: at most 2 edits apart,
/// and fewer than half of `declared`'s characters (so `port` is not taken
/// for `host`).
pub fn near_miss(given: &str, declared: &str) -> bool {
    let length = declared.chars().count();
    let distance = edit_distance(given, declared);
    distance <= 2 && distance * 2 < length
}

/// Levenshtein distance, by characters; ASCII case counts as no edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn setting(name: &str, required: bool) -> Declared<'_> {
        Declared {
            name,
            required,
            has_default: false,
        }
    }

    const DECLARED: &[Declared] = &[
        setting("base_url", true),
        setting("primary_key", false),
        setting("port", false),
    ];

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("baseurl", "base_url"), 1);
        assert_eq!(edit_distance("BASE_URL", "base_url"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(near_miss("baseurl", "base_url"));
        assert!(near_miss("primay_keys", "primary_key"));
        assert!(!near_miss("host", "port"));
        assert!(!near_miss("copies", "port"));
    }

    #[test]
    fn near_misses_are_refused_with_a_suggestion() {
        let why = check(&["baseurl"], DECLARED).unwrap_err();
        assert!(why.contains("did you mean `base_url`?"), "{why}");
        let why = check(&["base_url", "tasks.primay_key"], DECLARED).unwrap_err();
        assert!(why.contains("did you mean `tasks.primary_key`?"), "{why}");
        let both = check(&["base_url", "baseurl"], DECLARED).unwrap();
        assert!(both.is_some(), "set with its near miss: only a warning");
    }

    #[test]
    fn missing_required_settings_are_named() {
        let why = check(&["port"], DECLARED).unwrap_err();
        assert!(
            why.starts_with("the required setting `base_url` is not set (required: base_url;"),
            "{why}"
        );
        let defaulted = [Declared {
            has_default: true,
            ..setting("base_url", true)
        }];
        assert_eq!(check(&[], &defaulted).unwrap(), None);
    }

    #[test]
    fn dotted_and_unknown_names() {
        assert_eq!(
            check(&["base_url", "tasks.primary_key"], DECLARED),
            Ok(None)
        );
        let warning = check(&["base_url", "copies", "tasks.colour"], DECLARED)
            .unwrap()
            .unwrap();
        assert!(
            warning.starts_with("the plugin declares no setting `copies`, `tasks.colour`;"),
            "{warning}"
        );
        assert!(
            warning.ends_with("(the plugin's settings: base_url (required), primary_key, port)"),
            "{warning}"
        );
    }
}
