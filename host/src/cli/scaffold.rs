//! `synchost plugin new NAME`: writes a ready plugin project from the
//! templates in `host/templates/`.
//!
//! The SDK dependency: `--sdk-path PATH` gives a path dependency on that
//! `sdk/`; without it, a synchost checkout found above the project directory
//! or above the running `synchost` executable (a build from source) gives a
//! path dependency on its `sdk/`; otherwise the project gets a git dependency
//! whose `OWNER` placeholder the author fills in (docs/plugin-guide.md).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::error::usage;

mod js;
mod python;

/// The Rust project: `(path in the project, template)`.
const RUST_FILES: [(&str, &str); 4] = [
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/lib.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/rust/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/rust/gitignore.tmpl"),
    ),
];

/// The SDK's repository as the guide shows it; `OWNER` is a placeholder.
const SDK_GIT: &str = "https://github.com/OWNER/synchost";

/// Longest plugin name accepted.
const MAX_NAME: usize = 64;

/// Names Cargo or Rust refuse for a crate, or that shadow a crate the
/// project uses.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "serde",
    "serde_json",
    "static",
    "std",
    "struct",
    "super",
    "synchost_sdk",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, also its manifest name: lowercase letters, digits
    /// and `-`, starting with a letter.
    name: String,
    /// The project's language (Python and JavaScript: see
    /// docs/plugin-guide-python.md and docs/plugin-guide-js.md).
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The project directory to create (default: ./NAME). It must not exist
    /// or be empty.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Depend on the SDK at PATH (a synchost checkout's `sdk/`) by path
    /// instead of the git repository.
    #[arg(long, value_name = "PATH")]
    sdk_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

pub fn run(args: NewArgs) -> Result<()> {
    check_name(&args.name)?;
    match args.lang {
        Lang::Rust => {}
        Lang::Python | Lang::Js if args.sdk_path.is_some() => return Err(usage(
            "--sdk-path is for --lang rust: a Python or JavaScript project gets a copy of the SDK",
        )),
        Lang::Python => return new_python(&args.name, args.dir),
        Lang::Js => {
            return js::create(
                &args.name,
                &args.dir.unwrap_or_else(|| PathBuf::from(&args.name)),
            )
        }
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    check_empty(&dir)?;
    let sdk = match args.sdk_path {
        Some(path) => Sdk::Path(sdk_dir(&path)?),
        None => found_checkout(&dir).map_or(Sdk::Git, Sdk::Path),
    };
    write_project(&dir, &render(&args.name, &sdk)?)?;
    let crate_name = args.name.replace('-', "_");
    println!("created {} in {}", args.name, dir.display());
    match &sdk {
        Sdk::Path(path) => println!("synchost-sdk: path dependency on {}", path.display()),
        Sdk::Git => println!(
            "synchost-sdk: git dependency on {SDK_GIT}: replace OWNER in Cargo.toml (or use --sdk-path)"
        ),
    }
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  synchost plugin inspect target/wasm32-wasip2/release/{crate_name}.wasm");
    Ok(())
}

/// `plugin new NAME --lang python`: see [`python`].
fn new_python(name: &str, dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    check_empty(&dir)?;
    write_project(&dir, &python::render(name))?;
    println!("created {name} (Python) in {}", dir.display());
    python::next_steps(name, &dir);
    Ok(())
}

/// Where the project gets the SDK from.
#[derive(Debug, PartialEq, Eq)]
enum Sdk {
    Git,
    Path(PathBuf),
}

fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= MAX_NAME;
    if !well_formed {
        return Err(usage(format!(
            "invalid plugin name {name:?}: use lowercase letters, digits and `-`, starting with a letter, at most {MAX_NAME} characters (e.g. todos)"
        )));
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Err(usage(format!(
            "invalid plugin name {name:?}: it is reserved by Rust or Cargo, or names a crate the project uses"
        )));
    }
    Ok(())
}

/// Refuses an existing file or non-empty directory.
fn check_empty(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir).map_err(|err| {
        usage(format!(
            "{} exists and is not a readable directory: {err}",
            dir.display()
        ))
    })?;
    if entries.next().is_some() {
        return Err(usage(format!(
            "{} exists and is not empty: choose another name or --dir",
            dir.display()
        )));
    }
    Ok(())
}

/// `path` as an absolute SDK directory; it must hold the `synchost-sdk` crate.
fn sdk_dir(path: &Path) -> Result<PathBuf> {
    let dir = fs::canonicalize(path)
        .map_err(|err| usage(format!("--sdk-path {}: {err}", path.display())))?;
    if !is_sdk(&dir) {
        return Err(usage(format!(
            "--sdk-path {}: no synchost-sdk crate there (a synchost checkout's `sdk/` directory)",
            path.display()
        )));
    }
    Ok(dir)
}

fn is_sdk(dir: &Path) -> bool {
    fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"synchost-sdk\""))
}

/// The `sdk/` of a synchost checkout above the project directory, else above
/// the running executable (e.g. `<checkout>/target/release/synchost`).
fn found_checkout(project: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let exe = std::env::current_exe().ok();
    let starts = [Some(cwd.join(project)), exe];
    starts.into_iter().flatten().find_map(|start| {
        start
            .ancestors()
            .skip(1)
            .map(|dir| dir.join("sdk"))
            .find(|sdk| is_sdk(sdk))
            .and_then(|sdk| fs::canonicalize(sdk).ok())
    })
}

/// The project's files with the placeholders filled in.
fn render(name: &str, sdk: &Sdk) -> Result<Vec<(&'static str, String)>> {
    let (dependency, note) = match sdk {
        Sdk::Path(path) => {
            let path = path
                .to_str()
                .with_context(|| format!("the SDK path {} is not UTF-8", path.display()))?;
            // A JSON string is a valid TOML basic string.
            let quoted = serde_json::to_string(path)?;
            (
                format!("synchost-sdk = {{ path = {quoted} }}"),
                format!(
                    "`Cargo.toml` depends on the SDK at `{path}` by path. To build elsewhere, \
                     use the git dependency instead:\n\n    \
                     synchost-sdk = {{ git = \"{SDK_GIT}\" }}\n\n\
                     with `OWNER` replaced by the account that hosts your synchost repository."
                ),
            )
        }
        Sdk::Git => (
            format!(
                "# Replace OWNER with the account that hosts the synchost repository\n\
                 # (pin a version with `tag = \"...\"` or `rev = \"...\"`), or use a local\n\
                 # checkout: synchost-sdk = {{ path = \"/path/to/synchost/sdk\" }}\n\
                 synchost-sdk = {{ git = \"{SDK_GIT}\" }}"
            ),
            format!(
                "`Cargo.toml` depends on the SDK by git: replace `OWNER` in \
                 `{SDK_GIT}` with the account that hosts your synchost repository, \
                 or depend on a local checkout with `synchost-sdk = {{ path = \"/path/to/synchost/sdk\" }}`."
            ),
        ),
    };
    let crate_name = name.replace('-', "_");
    Ok(RUST_FILES
        .iter()
        .map(|&(path, template)| {
            let text = template
                .replace("{{name}}", name)
                .replace("{{crate_name}}", &crate_name)
                .replace("{{sdk_dependency}}", &dependency)
                .replace("{{sdk_note}}", &note);
            (path, text)
        })
        .collect())
}

/// Writes the project's files into `dir`; on failure, removes `dir` if
/// this command created it.
fn write_project(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    let existed = dir.exists();
    let written = write_all(dir, files);
    if written.is_err() && !existed {
        let _ = fs::remove_dir_all(dir);
    }
    written
}

fn write_all(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["todos", "my-api2", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "Todos",
            "2do",
            "-x",
            "x-",
            "my_api",
            "to dos",
            "../x",
            "fn",
            "std",
            "synchost-sdk",
            &long,
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for sdk in [Sdk::Git, Sdk::Path(PathBuf::from("/x/\"q\"/sdk"))] {
            for (path, text) in render("my-api", &sdk).unwrap() {
                assert!(!text.contains("{{"), "{path} keeps a placeholder:\n{text}");
            }
        }
        let files = render("my-api", &Sdk::Path(PathBuf::from("/x/\"q\"/sdk"))).unwrap();
        let cargo = &files[0].1;
        assert!(cargo.contains("name = \"my-api\""), "{cargo}");
        assert!(
            cargo.contains(r#"synchost-sdk = { path = "/x/\"q\"/sdk" }"#),
            "{cargo}"
        );
        let readme = &files[2].1;
        assert!(readme.contains("release/my_api.wasm"), "{readme}");
        let git = render("my-api", &Sdk::Git).unwrap();
        let cargo = &git[0].1;
        assert!(
            cargo.contains("\nsynchost-sdk = { git = \"https://github.com/OWNER/synchost\" }\n"),
            "{cargo}"
        );
        let readme = &git[2].1;
        assert!(readme.contains("replace `OWNER`"), "{readme}");
    }
}
