//! The arrows between the layers of the code go one way: `main` -> `server` ->
//! `services` -> `domain`. A domain module does the real work and knows nothing of
//! gRPC, so it can be tested, benchmarked and reused without a server; a service is an
//! adapter that knows nothing of the server around it; a tower layer knows nothing of
//! the server that stacks it. These checks read the source, so that a `use` in the wrong
//! direction fails the suite instead of waiting for a reviewer.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The paths of a `use` tree such as `crate::{a::b, c::{self, D}}`, written out whole:
/// `crate::a::b`, `crate::c::self`, `crate::c::D`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let Some(close) = tree.rfind('}') else {
        return vec![tree.to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..close];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .flat_map(|part| {
            expand(part)
                .into_iter()
                .map(|path| format!("{prefix}{path}"))
        })
        .collect()
}

/// What `dir`'s sources refer to that starts with any of `forbidden`, outside comments:
/// the paths of their `use` declarations, written out whole, and every other word of
/// their code, as `file: path`.
fn mentions(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in sources(&root.join(dir)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" \n ");
        let mut paths = Vec::new();
        let mut rest = code.as_str();
        // `use` declarations start a line (after `pub` or `pub(crate)` at most).
        while let Some(at) = rest.find(" use ") {
            let statement = &rest[at + 5..];
            let end = statement.find(';').unwrap_or(statement.len());
            paths.extend(expand(&statement[..end].replace(char::is_whitespace, "")));
            rest = &statement[end..];
        }
        paths.extend(
            code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map(str::to_owned),
        );
        let file = file.strip_prefix(root).unwrap().display().to_string();
        found.extend(
            paths
                .into_iter()
                .filter(|path| forbidden.iter().any(|word| path.starts_with(word)))
                .map(|path| format!("{file}: {path}")),
        );
    }
    found
}

#[test]
fn domain_modules_know_nothing_of_grpc_or_the_layers_above() {
    let found = mentions(
        "src/domain",
        &[
            "tonic",
            "prost",
            "crate::proto",
            "crate::services",
            "crate::server",
            "crate::config",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn services_know_nothing_of_the_server() {
    let found = mentions("src/services", &["crate::server", "crate::config"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn layers_know_nothing_of_the_server_that_stacks_them() {
    let found = mentions(
        "src/server/layers",
        &[
            "crate::server",
            "super::super",
            "crate::config",
            "crate::services",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_checks_see_through_grouped_uses() {
    assert_eq!(
        expand("crate::{domain::{video::{self,Limits},streams},proto}"),
        [
            "crate::domain::video::self",
            "crate::domain::video::Limits",
            "crate::domain::streams",
            "crate::proto"
        ]
    );
    // The services do use the domain, in grouped `use` declarations: the checks above
    // would see a forbidden path there.
    let found = mentions("src/services", &["crate::domain::video"]);
    assert!(!found.is_empty());
}
