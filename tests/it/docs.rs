//! The documentation cannot drift from the code: the reference pages under docs/reference/
//! are what `lockdown::docgen` generates, and every `--sandbox` example in README.md and
//! docs/guide.md runs here against the sandbox, its exit status and lines compared.
//!
//! `LOCKDOWN_UPDATE_DOCS=1 cargo test --test it docs::` rewrites what differs (the reference
//! pages, and the output of each example that no longer matches) instead of failing.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("LOCKDOWN_UPDATE_DOCS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn reference_pages_match_the_code() {
    let mut stale = Vec::new();
    for (path, generated) in lockdown::docgen::pages() {
        let file = root().join(path);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        if current == generated {
            continue;
        }
        if updating() {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &generated).unwrap();
            eprintln!("updated {path}");
        } else {
            stale.push(format!(
                "{path}: {}",
                first_difference(&current, &generated)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "generated reference pages differ from the code (they are never edited by hand); \
         regenerate them with `{}`:\n{}",
        lockdown::docgen::UPDATE_COMMAND,
        stale.join("\n")
    );
}

/// The first line where `current` and `generated` part, for a message a person can act on.
fn first_difference(current: &str, generated: &str) -> String {
    if current.is_empty() {
        return "missing".to_owned();
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (current.lines().collect(), generated.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "line {}:\n  file:      {}\n  generated: {}",
        at + 1,
        a.get(at).unwrap_or(&"(end of file)"),
        b.get(at).unwrap_or(&"(end of file)")
    )
}

#[allow(dead_code)]
fn _path(p: &Path) -> &Path {
    p
}
