//! The documentation cannot drift from the code: the reference pages under docs/reference/
//! are what `lockdown::docgen` generates, and every `--sandbox` example in README.md and
//! docs/guide.md runs here against the sandbox, its exit status and lines compared.
//!
//! `LOCKDOWN_UPDATE_DOCS=1 cargo test --test it docs::` rewrites what differs (the reference
//! pages, and the output of each example that no longer matches) instead of failing.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::normalize;

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

/// The info string that marks a fenced block as an example this test runs.
const MARKER: &str = "console example";

/// Pages whose every `--sandbox` example must be marked, so that it runs here.
const MUST_RUN: &[&str] = &["README.md", "docs/guide.md"];

/// One fenced block marked [`MARKER`]: commands (`$ ...`), each followed by what it prints
/// (stdout and stderr as they interleave), and `$ echo $?` with the exit status when it is not 0.
#[derive(Debug)]
struct Example {
    /// 1-based line of the opening fence.
    line: usize,
    /// The lines between the fences.
    body: Vec<String>,
}

#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
    status: i32,
}

/// The fenced blocks of a Markdown page: (opening line, info string, lines inside).
fn fences(text: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String, Vec<String>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(rest) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, "```".to_owned(), rest.trim().to_owned(), Vec::new()));
                }
            }
            Some((start, fence, info, body)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence {
                    out.push((*start, std::mem::take(info), std::mem::take(body)));
                    open = None;
                } else {
                    body.push(line.to_owned());
                }
            }
        }
    }
    out
}

fn examples(text: &str) -> Vec<Example> {
    fences(text)
        .into_iter()
        .filter(|(_, info, _)| info == MARKER)
        .map(|(line, _, body)| Example { line, body })
        .collect()
}

impl Example {
    fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
        let mut lines = self.body.iter().peekable();
        while let Some(line) = lines.next() {
            let Some(command) = line.strip_prefix("$ ") else {
                panic!(
                    "line {}: an example starts with `$ COMMAND`, not {line:?}",
                    self.line + 1
                );
            };
            let mut expected = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("$ ") {
                    break;
                }
                expected.push(lines.next().unwrap().clone());
            }
            if command.trim() == "echo $?" {
                let last = steps.last_mut().expect("`$ echo $?` follows a command");
                last.status = expected
                    .first()
                    .and_then(|s| s.trim().parse().ok())
                    .expect("`$ echo $?` is followed by the exit status");
                continue;
            }
            steps.push(Step {
                command: command.to_owned(),
                expected,
                status: 0,
            });
        }
        steps
    }
}

/// A command line split as a POSIX shell would (quotes and backslashes), with `lockdown` or
/// `cargo run --` replaced by the binary under test. `2>/dev/null` drops stderr. Anything else
/// a shell would interpret (pipes, redirections, `$(...)`) is refused: an example runs as
/// written or not at all.
fn parse_command(line: &str) -> (Vec<String>, bool) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        '$' | '`' => panic!("{line:?}: no shell expansion in an example"),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() => words.extend(word.take()),
            '|' | '>' | '<' | ';' | '&' | '$' | '`' | '(' | ')' => {
                if c == '>'
                    && word.as_deref() == Some("2")
                    && chars.as_str().starts_with("/dev/null")
                {
                    word = Some("2>/dev/null".to_owned());
                    for _ in 0.."/dev/null".len() {
                        chars.next();
                    }
                } else {
                    panic!("{line:?}: `{c}` needs a shell; examples run without one");
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    let quiet = words.iter().any(|w| w == "2>/dev/null");
    words.retain(|w| w != "2>/dev/null");
    let rest = match words.first().map(String::as_str) {
        Some("lockdown") => words[1..].to_vec(),
        Some("cargo") if words.get(1..3) == Some(&["run".to_owned(), "--".to_owned()]) => {
            words[3..].to_vec()
        }
        _ => panic!("{line:?}: an example runs `lockdown` (or `cargo run --`)"),
    };
    (rest, quiet)
}

/// Run one command in `dir`, stdout and stderr into one pipe so that they interleave as they
/// were written, with the environment of the other tests (no credentials, no colour, Graph
/// time fifty times faster so that `watch --for 1m` takes a second).
fn run(line: &str, dir: &Path) -> (i32, String) {
    let (args, quiet) = parse_command(line);
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let stderr = if quiet {
        Stdio::null()
    } else {
        Stdio::from(writer.try_clone().expect("a pipe"))
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockdown"))
        .args(&args)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("LOCKDOWN_TIME_SCALE", "50")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .spawn()
        .expect("lockdown runs");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
        }
    });
    let mut output = Vec::new();
    reader.read_to_end(&mut output).expect("read the output");
    let status = child.wait().expect("wait");
    let _ = tx.send(());
    let text = String::from_utf8_lossy(&output).into_owned();
    (status.code().unwrap_or(-1), text)
}

/// Whether `actual` (one normalized line) matches `expected`, where `[..]` stands for any text.
fn line_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether the lines match, where a line `...` stands for any number of lines.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|k| lines_match(rest, &actual[k..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && lines_match(rest, more)),
    }
}

fn normalized(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| normalize(l).trim_end().to_owned())
        .collect()
}

/// `expected` and `actual` as a diff: ` ` both, `-` only expected, `+` only actual. The page's
/// `...` lines are left out (the lines they stand for show as `+`).
fn diff(expected: &[String], actual: &[String]) -> String {
    let expected: Vec<&String> = expected.iter().filter(|l| *l != "...").collect();
    let (n, m) = (expected.len(), actual.len());
    let same = |i: usize, j: usize| line_matches(expected[i], &actual[j]);
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same(i, j) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && same(i, j) {
            out.push_str(&format!("    {}\n", actual[j]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("  + {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("  - {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

/// Run every example of `page`; with `LOCKDOWN_UPDATE_DOCS`, write back the output of those
/// that no longer match. Returns how many examples ran.
fn run_page(page: &str) -> usize {
    let path = root().join(page);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
    let examples = examples(&text);
    let mut failures = Vec::new();
    let mut replacements: Vec<(usize, Vec<String>)> = Vec::new();
    for example in &examples {
        let dir = tempfile::tempdir().unwrap();
        let mut body = Vec::new();
        let mut failed = false;
        for step in example.steps() {
            let (status, output) = run(&step.command, dir.path());
            let actual: Vec<String> = output.lines().map(str::to_owned).collect();
            let (want, got) = (normalized(&step.expected), normalized(&actual));
            let matches = status == step.status && lines_match(&want, &got);
            if !matches {
                failed = true;
                let status_line = if status == step.status {
                    String::new()
                } else {
                    format!("  exit status: expected {}, got {status}\n", step.status)
                };
                failures.push(format!(
                    "{page}:{}: $ {}\n{status_line}  output (- expected, + actual; times, GUIDs, ports and durations normalized):\n{}",
                    example.line,
                    step.command,
                    diff(&want, &got)
                ));
            }
            body.push(format!("$ {}", step.command));
            if matches {
                body.extend(step.expected.iter().cloned());
            } else {
                if step.expected.first().is_some_and(|l| l == "...") {
                    body.push("...".to_owned());
                }
                body.extend(actual.iter().map(|l| l.trim_end().to_owned()));
            }
            if status != 0 {
                body.push("$ echo $?".to_owned());
                body.push(status.to_string());
            }
        }
        if failed {
            replacements.push((example.line, body));
        }
    }
    if updating() && !replacements.is_empty() {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        // From the last block up, so that earlier line numbers hold.
        for (line, body) in replacements.iter().rev() {
            let start = *line; // the first line inside the fence (0-based index)
            let end = start
                + lines[start..]
                    .iter()
                    .position(|l| l.trim() == "```")
                    .expect("the closing fence");
            lines.splice(start..end, body.iter().cloned());
        }
        let mut new = lines.join("\n");
        if text.ends_with('\n') {
            new.push('\n');
        }
        std::fs::write(&path, new).unwrap();
        eprintln!(
            "updated {} example(s) in {page}: check the diff, and put back any `...` or `[..]` that stood for lines or text left out",
            replacements.len()
        );
    } else {
        assert!(
            failures.is_empty(),
            "{} example(s) no longer match what lockdown prints; fix the code, or the page, or \
             regenerate the output of the examples with `{}`:\n\n{}",
            failures.len(),
            lockdown::docgen::UPDATE_COMMAND,
            failures.join("\n")
        );
    }
    examples.len()
}

/// Blocks that run `--sandbox` commands without the marker, which this test would not run.
fn unmarked_sandbox_examples(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(page)).unwrap();
    fences(&text)
        .into_iter()
        .filter(|(_, info, _)| info != MARKER)
        .filter(|(_, _, body)| {
            body.iter().any(|l| {
                let l = l.trim_start().trim_start_matches("$ ");
                (l.starts_with("lockdown ") || l.starts_with("cargo run"))
                    && l.contains("--sandbox")
            })
        })
        .map(|(line, info, _)| format!("{page}:{line}: ```{info}"))
        .collect()
}

#[test]
fn readme_examples_run_as_shown() {
    assert!(
        run_page("README.md") >= 1,
        "README.md has its quick start example"
    );
}

#[test]
fn guide_examples_run_as_shown() {
    assert!(
        run_page("docs/guide.md") >= 5,
        "docs/guide.md has its examples"
    );
}

/// Examples on the other pages run too, when marked.
#[test]
fn other_pages_examples_run_as_shown() {
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "guide.md" {
            run_page(&format!("docs/{name}"));
        }
    }
}

#[test]
fn every_sandbox_example_is_marked_to_run() {
    let unmarked: Vec<String> = MUST_RUN
        .iter()
        .flat_map(|page| unmarked_sandbox_examples(page))
        .collect();
    assert!(
        unmarked.is_empty(),
        "these blocks run `--sandbox` commands but are not marked ```{MARKER}, so no test runs \
         them: mark them (commands as `$ lockdown ...`, then the output):\n{}",
        unmarked.join("\n")
    );
}

#[test]
fn the_example_matcher_reads_as_documented() {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(lines_match(&lines("a\n...\nd"), &lines("a\nb\nc\nd")));
    assert!(lines_match(&lines("a\n...\nd"), &lines("a\nd")));
    assert!(!lines_match(&lines("a\nd"), &lines("a\nb\nd")));
    assert!(line_matches("id [..] done", "id 42 done"));
    assert!(!line_matches("id [..] done", "id 42 failed"));
    assert_eq!(
        parse_command(r#"lockdown --sandbox block "patti.o'fernandez@contoso.com" 2>/dev/null"#),
        (
            vec![
                "--sandbox".into(),
                "block".into(),
                "patti.o'fernandez@contoso.com".into()
            ],
            true
        )
    );
    assert_eq!(
        parse_command("cargo run -- --sandbox block '$lidia@contoso.com'").0,
        vec!["--sandbox", "block", "$lidia@contoso.com"]
    );
}

/// README is read in five minutes: what lockdown does, the quick start, the common tasks and
/// where the rest is. Everything else belongs in docs/.
#[test]
fn readme_is_at_most_12_kb() {
    let size = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size <= 12 * 1024,
        "README.md is {size} bytes, more than 12 KB: move detail to a page of docs/"
    );
}
