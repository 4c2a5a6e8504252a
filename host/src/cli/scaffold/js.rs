//! `synchost plugin new NAME --lang js`: a JavaScript project with a copy of
//! the JavaScript SDK (`sdk/js`) and of the contract (`sdk/wit/source.wit`),
//! built with componentize-js at the versions `examples/js-items/package.json`
//! pins (the one place they are written; xtask installs the same).

use std::path::Path;

use anyhow::{Context, Result};

use super::{check_empty, write_all};

/// `(path in the project, template)`; `{{name}}`, `{{componentize_js}}` and
/// `{{jco}}` are filled in.
const TEMPLATES: [(&str, &str); 6] = [
    (
        "package.json",
        include_str!("../../../templates/js/package.json.tmpl"),
    ),
    (
        "src/app.js",
        include_str!("../../../templates/js/app.js.tmpl"),
    ),
    (
        "src/plugin.js",
        include_str!("../../../templates/js/plugin.js.tmpl"),
    ),
    (
        "test/plugin.test.js",
        include_str!("../../../templates/js/plugin.test.js.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../../templates/js/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/js/gitignore.tmpl"),
    ),
];

/// Copied as they are: the SDK (`sdk/js` of this repository) and the WIT.
const COPIED: [(&str, &str); 15] = [
    (
        "sdk/package.json",
        include_str!("../../../../sdk/js/package.json"),
    ),
    (
        "sdk/README.md",
        include_str!("../../../../sdk/js/README.md"),
    ),
    (
        "sdk/register.js",
        include_str!("../../../../sdk/js/register.js"),
    ),
    (
        "sdk/src/errors.js",
        include_str!("../../../../sdk/js/src/errors.js"),
    ),
    (
        "sdk/src/host.js",
        include_str!("../../../../sdk/js/src/host.js"),
    ),
    (
        "sdk/src/http.js",
        include_str!("../../../../sdk/js/src/http.js"),
    ),
    (
        "sdk/src/index.js",
        include_str!("../../../../sdk/js/src/index.js"),
    ),
    (
        "sdk/src/log.js",
        include_str!("../../../../sdk/js/src/log.js"),
    ),
    (
        "sdk/src/settings.js",
        include_str!("../../../../sdk/js/src/settings.js"),
    ),
    (
        "sdk/src/push.js",
        include_str!("../../../../sdk/js/src/push.js"),
    ),
    (
        "sdk/src/source.js",
        include_str!("../../../../sdk/js/src/source.js"),
    ),
    (
        "sdk/src/testing.js",
        include_str!("../../../../sdk/js/src/testing.js"),
    ),
    (
        "sdk/src/types.js",
        include_str!("../../../../sdk/js/src/types.js"),
    ),
    (
        "sdk/src/native/host.js",
        include_str!("../../../../sdk/js/src/native/host.js"),
    ),
    (
        "sdk/src/native/hooks.js",
        include_str!("../../../../sdk/js/src/native/hooks.js"),
    ),
];

const WIT: (&str, &str) = (
    "wit/source.wit",
    include_str!("../../../../sdk/wit/source.wit"),
);

/// The example's `package.json`, whose `devDependencies` pin the toolchain.
const PINS: &str = include_str!("../../../../examples/js-items/package.json");

/// Writes the project into `dir` (which must not exist or be empty).
pub(super) fn create(name: &str, dir: &Path) -> Result<()> {
    check_empty(dir)?;
    let files = render(name)?;
    let existed = dir.exists();
    if let Err(err) = write_all(dir, &files) {
        // Only a directory this command created is removed.
        if !existed {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(err);
    }
    println!("created {name} (JavaScript) in {}", dir.display());
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  npm install     # componentize-js and jco, pinned");
    println!("  npm run build   # {name}.wasm");
    println!("  synchost plugin check {name}.wasm --set base_url=http://127.0.0.1:8080");
    Ok(())
}

/// The project's files: the templates filled in, the SDK and the WIT copied.
fn render(name: &str) -> Result<Vec<(&'static str, String)>> {
    let pins: serde_json::Value = serde_json::from_str(PINS)?;
    let pin = |package: &str| {
        pins["devDependencies"][package]
            .as_str()
            .with_context(|| format!("examples/js-items/package.json pins no {package}"))
    };
    let (componentize_js, jco) = (
        pin("@bytecodealliance/componentize-js")?,
        pin("@bytecodealliance/jco")?,
    );
    let templates = TEMPLATES.iter().map(|&(path, template)| {
        let text = template
            .replace("{{name}}", name)
            .replace("{{componentize_js}}", componentize_js)
            .replace("{{jco}}", jco);
        (path, text)
    });
    let copied = COPIED
        .iter()
        .chain([&WIT])
        .map(|&(path, text)| (path, text.to_owned()));
    Ok(templates.chain(copied).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_and_the_toolchain_pinned() {
        let files = render("my-api").unwrap();
        for (path, text) in &files[..TEMPLATES.len()] {
            assert!(!text.contains("{{"), "{path} keeps a placeholder:\n{text}");
        }
        let file = |name: &str| &files.iter().find(|(p, _)| *p == name).unwrap().1;
        let package: serde_json::Value = serde_json::from_str(file("package.json")).unwrap();
        assert_eq!(package["name"], "my-api");
        let componentize = package["devDependencies"]["@bytecodealliance/componentize-js"]
            .as_str()
            .unwrap();
        assert!(componentize.starts_with("0.23."), "{componentize}");
        assert!(file("src/plugin.js").contains("name: 'my-api'"));
        assert_eq!(file("wit/source.wit"), WIT.1);
        assert!(file("README.md").contains("npm run build"));
    }

    /// Every file of `sdk/js` (but its tests) is copied into a project.
    #[test]
    fn the_whole_sdk_is_copied() {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                if path.is_dir() {
                    if rel != "test" && rel != "node_modules" {
                        walk(&path, base, out);
                    }
                } else {
                    out.push(format!("sdk/{rel}"));
                }
            }
        }
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/js");
        let mut found = Vec::new();
        walk(&sdk, &sdk, &mut found);
        found.sort();
        let mut copied: Vec<String> = COPIED.iter().map(|(p, _)| p.to_string()).collect();
        copied.sort();
        assert_eq!(found, copied, "COPIED must list every file of sdk/js");
    }
}
