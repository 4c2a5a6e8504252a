//! `synchost plugin new NAME --lang python`: a componentize-py project
//! with the Python SDK (`sdk/python/synchost_sdk`) and the contract
//! (`sdk/wit/source.wit`) copied in, so it builds on its own.

use std::path::Path;

/// One file of the SDK, at its place in the project.
macro_rules! sdk {
    ($path:literal) => {
        (
            concat!("synchost_sdk/", $path),
            include_str!(concat!("../../../../sdk/python/synchost_sdk/", $path)),
        )
    };
}

/// The project: `(path in the project, template)`; `{{name}}` is filled in.
const FILES: [(&str, &str); 23] = [
    (
        "app.py",
        include_str!("../../../templates/python/app.py.tmpl"),
    ),
    (
        "tests/test_app.py",
        include_str!("../../../templates/python/test_app.py.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../../templates/python/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/python/gitignore.tmpl"),
    ),
    (
        "wit/source.wit",
        include_str!("../../../../sdk/wit/source.wit"),
    ),
    sdk!("__init__.py"),
    sdk!("_wit.py"),
    sdk!("changes.py"),
    sdk!("errors.py"),
    sdk!("http.py"),
    sdk!("log.py"),
    sdk!("plugin.py"),
    sdk!("settings.py"),
    sdk!("testing.py"),
    sdk!("values.py"),
    sdk!("_bindings/componentize_py_types.py"),
    sdk!("_bindings/wit_world/__init__.py"),
    sdk!("_bindings/wit_world/exports/__init__.py"),
    sdk!("_bindings/wit_world/exports/source.py"),
    sdk!("_bindings/wit_world/imports/__init__.py"),
    sdk!("_bindings/wit_world/imports/http.py"),
    sdk!("_bindings/wit_world/imports/log.py"),
    sdk!("_bindings/wit_world/imports/types.py"),
];

/// The files with `{{name}}` filled in (SDK files are copied as they are).
pub(super) fn render(name: &str) -> Vec<(&'static str, String)> {
    FILES
        .iter()
        .map(|&(path, text)| {
            let text = if path.starts_with("synchost_sdk/") || path.starts_with("wit/") {
                text.to_owned()
            } else {
                text.replace("{{name}}", name)
            };
            (path, text)
        })
        .collect()
}

/// What to do next, printed after the files are written.
pub(super) fn next_steps(name: &str, dir: &Path) {
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.0");
    println!(
        "  .venv/bin/componentize-py -d wit -w source-plugin componentize app -p . -o {name}.wasm"
    );
    println!("  python3 -m unittest discover -s tests");
    println!("  synchost plugin check {name}.wasm --set base_url=http://127.0.0.1:8080");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_named_and_holds_the_sdk_as_is() {
        let files = render("my-api");
        let file = |name: &str| {
            files
                .iter()
                .find(|(path, _)| *path == name)
                .map(|(_, text)| text.as_str())
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert!(file("app.py").contains("NAME = \"my-api\""));
        assert!(file("README.md").contains("-o my-api.wasm"));
        for (path, text) in &files {
            let templated = !path.starts_with("synchost_sdk/") && !path.starts_with("wit/");
            assert!(
                !(templated && text.contains("{{")),
                "{path} keeps a placeholder"
            );
        }
        assert_eq!(
            file("synchost_sdk/http.py"),
            include_str!("../../../../sdk/python/synchost_sdk/http.py")
        );
        assert!(file("wit/source.wit").contains("package synchost:source@0.2.0;"));
    }
}
