//! The reference pages under `docs/reference/`, generated from the code so they cannot drift
//! from it: `cli.md` from the clap definitions (`crate::cli`), `permissions.md` from what each
//! step declares it needs (`Step::requires`, per kind of token) and what `watch` needs.
//!
//! Nobody edits those files by hand. The test `docs::reference_pages_match_the_code`
//! (tests/it/docs.rs) fails when a file differs from what this module generates, and rewrites
//! both when run with `LOCKDOWN_UPDATE_DOCS=1` ([`UPDATE_COMMAND`]).

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::auth::TokenKind;
use crate::cli::Cli;
use crate::steps::require::{Permissions, Requirement};
use crate::steps::{units, RunCx, Unit};

/// The command that regenerates the reference pages (and README's and the guide's examples).
pub const UPDATE_COMMAND: &str = "LOCKDOWN_UPDATE_DOCS=1 cargo test --test it docs::";

/// The generated pages, by path from the repository root.
pub fn pages() -> Vec<(&'static str, String)> {
    vec![
        ("docs/reference/cli.md", cli_reference()),
        ("docs/reference/permissions.md", permissions_reference()),
    ]
}

fn banner(out: &mut String, source: &str) {
    let _ = writeln!(
        out,
        "<!-- Generated from {source} by src/docgen.rs: do not edit by hand.\n     Regenerate with: {UPDATE_COMMAND} -->\n"
    );
}

/// `docs/reference/cli.md`: every command, its options and arguments, their defaults, ranges
/// and possible values, from the same definitions `--help`, the man page and the completions
/// come from.
pub fn cli_reference() -> String {
    let mut cli = Cli::command();
    cli.build();
    let mut out = String::new();
    out.push_str("# Command-line reference\n\n");
    banner(&mut out, "the clap definitions in src/cli.rs");
    out.push_str(
        "Every command and option, as `lockdown --help` and `lockdown COMMAND --help` describe them. \
         The guide, [docs/guide.md](../guide.md), explains what they are for.\n\n",
    );
    let commands: Vec<&Command> = cli
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    out.push_str("| Command | What it does |\n|---|---|\n");
    for c in &commands {
        let _ = writeln!(
            out,
            "| [`lockdown {}`](#lockdown-{}) | {} |",
            c.get_name(),
            c.get_name(),
            cell(&about(c))
        );
    }
    if cli
        .get_arguments()
        .any(|a| a.is_global_set() && !a.is_hide_set())
    {
        out.push_str(
            "\nOptions marked *global* work before or after the command's name \
             (`lockdown -o json block ...` is `lockdown block ... -o json`).\n",
        );
    }

    out.push_str("\n## `lockdown`\n\n");
    let _ = writeln!(out, "{}\n", about(&cli));
    let _ = writeln!(out, "```text\n{}\n```\n", usage(&cli));
    if cli
        .get_arguments()
        .any(|a| a.is_global_set() && !a.is_hide_set())
    {
        out.push_str("Global options:\n\n");
        options_table(
            &mut out,
            &cli,
            cli.get_arguments().filter(|a| a.is_global_set()),
        );
    }

    for c in commands {
        let _ = writeln!(out, "\n## `lockdown {}`\n", c.get_name());
        let _ = writeln!(out, "{}\n", about(c));
        let _ = writeln!(out, "```text\n{}\n```\n", usage(c));
        let mut own: Vec<&Arg> = c
            .get_arguments()
            .filter(|a| !a.is_global_set() && !is_builtin(a))
            .collect();
        // In the order help shows them: a command may adjust an option a step declared (its
        // help), which moves it to the end of the list but keeps its place in help.
        own.sort_by_key(|a| (!a.is_positional(), a.get_display_order()));
        let (hidden, shown): (Vec<&Arg>, Vec<&Arg>) =
            own.into_iter().partition(|a| a.is_hide_set());
        if shown.is_empty() {
            out.push_str("No options of its own.\n");
        } else {
            options_table(&mut out, c, shown.into_iter());
        }
        if !hidden.is_empty() {
            let names: Vec<String> = hidden
                .iter()
                .map(|a| format!("`{}`", flag_names(a)))
                .collect();
            let _ = writeln!(
                out,
                "\nHidden from `--help`, kept for existing scripts: {}.",
                names.join(", ")
            );
            for a in hidden {
                let _ = writeln!(out, "- `{}`: {}", flag_names(a), one_line(&help(a)));
            }
        }
    }
    out
}

fn about(c: &Command) -> String {
    c.get_long_about()
        .or(c.get_about())
        .map(|s| one_line(&s.to_string()))
        .unwrap_or_default()
}

fn usage(c: &Command) -> String {
    let rendered = c.clone().render_usage().to_string();
    rendered
        .trim()
        .trim_start_matches("Usage:")
        .trim()
        .to_owned()
}

fn is_builtin(a: &Arg) -> bool {
    matches!(
        a.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

fn help(a: &Arg) -> String {
    a.get_long_help()
        .or(a.get_help())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Help text on one line (clap wraps doc comments at their line breaks only when asked).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Help text as a sentence in a table cell: clap drops the full stop of a one-sentence doc
/// comment, and more follows it here.
fn sentence(text: &str) -> String {
    let mut text = cell(text);
    if !text.is_empty() && !text.ends_with(['.', ':', '!', '?']) {
        text.push('.');
    }
    text
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn flag_names(a: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = a.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("--{l}"));
    }
    if names.is_empty() {
        let name = a
            .get_value_names()
            .and_then(|v| v.first().map(|s| s.to_string()))
            .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
        let many = matches!(a.get_action(), ArgAction::Append)
            || a.get_num_args().is_some_and(|n| n.max_values() > 1);
        return if many { format!("{name}...") } else { name };
    }
    names.join(", ")
}

fn takes_value(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::Set | ArgAction::Append)
}

fn options_table<'a>(out: &mut String, cmd: &Command, args: impl Iterator<Item = &'a Arg>) {
    out.push_str("| Option | Value | Default | Description |\n|---|---|---|---|\n");
    for a in args {
        let name = flag_names(a);
        let value = if !takes_value(a) {
            String::new()
        } else if a.is_positional() {
            "positional".to_owned()
        } else {
            let v = a
                .get_value_names()
                .map(|v| {
                    v.iter()
                        .map(|s| format!("<{s}>"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| format!("<{}>", a.get_id().as_str().to_uppercase()));
            let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
            if optional {
                format!("`[={}]`", v.trim_start_matches('<').trim_end_matches('>'))
            } else {
                format!("`{v}`")
            }
        };
        let default = if !takes_value(a) {
            String::new()
        } else {
            a.get_default_values()
                .iter()
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut desc = sentence(&help(a));
        if let Some(range) = range(cmd, a).filter(|r| !desc.contains(r.as_str())) {
            let _ = write!(desc, " Range: `{range}`.");
        }
        let values: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| {
                let mut names: Vec<String> = Vec::new();
                for n in p.get_name_and_aliases() {
                    let n = format!("`{n}`");
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                let (first, rest) = names.split_first().expect("a possible value has a name");
                let mut v = first.clone();
                if !rest.is_empty() {
                    let _ = write!(v, " (also {})", rest.join(", "));
                }
                if let Some(h) = p.get_help() {
                    let _ = write!(v, ": {}", cell(&h.to_string()).trim_end_matches('.'));
                }
                v
            })
            .collect();
        if !values.is_empty() {
            let _ = write!(desc, " Values: {}.", values.join("; "));
        }
        if let Some(env) = a.get_env() {
            let _ = write!(desc, " Environment: `{}`.", env.to_string_lossy());
        }
        if a.is_global_set() {
            desc.push_str(" *Global.*");
        }
        let conflicts: Vec<String> = cmd
            .get_arg_conflicts_with(a)
            .iter()
            .filter(|c| !c.is_hide_set())
            .map(|c| format!("`{}`", flag_names(c)))
            .collect();
        if !conflicts.is_empty() {
            let _ = write!(desc, " Not with {}.", conflicts.join(", "));
        }
        let _ = writeln!(out, "| `{name}` | {value} | {default} | {} |", desc.trim());
    }
}

/// The bounds an integer option's value parser accepts (`1..=256`), found by asking the parser
/// itself: clap does not expose a range, but the accepted values are one interval, so a binary
/// search on each side finds its ends. Bounds no wider than a `u32` are shown; a parser that
/// takes any `u64` is unbounded for a person.
fn range(cmd: &Command, a: &Arg) -> Option<String> {
    use std::any::TypeId;
    if a.is_positional() || !takes_value(a) {
        return None;
    }
    let parser = a.get_value_parser();
    let integer = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ]
    .iter()
    .any(|t| parser.type_id() == *t);
    if !integer {
        return None;
    }
    let probe = Command::new(cmd.get_name().to_owned()).arg(
        Arg::new("value")
            .long("value")
            .allow_negative_numbers(true)
            .value_parser(parser.clone()),
    );
    let accepts = |n: i128| {
        probe
            .clone()
            .try_get_matches_from(["probe".to_owned(), format!("--value={n}")])
            .is_ok()
    };
    let known = a
        .get_default_values()
        .first()
        .and_then(|v| v.to_str()?.parse::<i128>().ok())
        .filter(|n| accepts(*n))
        .or_else(|| [1, 0, 10, 100].into_iter().find(|n| accepts(*n)))?;
    // The smallest accepted: `lo` is rejected (or the floor), `hi` accepted.
    let floor = i128::from(i64::MIN);
    let ceiling = i128::from(u64::MAX);
    let low = if accepts(floor) {
        floor
    } else {
        let (mut lo, mut hi) = (floor, known);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if accepts(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    };
    let high = if accepts(ceiling) {
        ceiling
    } else {
        let (mut lo, mut hi) = (known, ceiling);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if accepts(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    };
    (high < i128::from(u32::MAX) && low >= 0).then(|| format!("{low}..={high}"))
}

/// `docs/reference/permissions.md`: what each step's calls need, per kind of token, as the
/// steps themselves declare it for `lockdown check` and `block --preflight`.
pub fn permissions_reference() -> String {
    let mut out = String::new();
    out.push_str("# Permissions reference\n\n");
    banner(
        &mut out,
        "each step's own requirements (`Step::requires` in src/steps/) and `watch`'s (src/watch.rs)",
    );
    out.push_str(
        "What each call a step makes needs from the caller, as the step declares it: this is what \
         `lockdown check` and `block --preflight` compare with what the caller has. \
         [docs/permissions.md](../permissions.md) explains how to grant it.\n\n\
         - **Permission**: Microsoft Graph permissions. Any one of the sets listed works, each \
         needed whole (`A` + `B`); the first is the least privileged, the one `check` names.\n\
         - **Role**: directory roles, one of which the caller must hold: the signed-in user \
         for a delegated token, the app itself for an application.\n\
         - **Licence**: the service plan the tenant needs.\n\n",
    );
    let kinds = [
        (
            TokenKind::AppOnly,
            "Application permissions (app-only token)",
        ),
        (
            TokenKind::Delegated,
            "Delegated permissions (a signed-in admin)",
        ),
    ];
    out.push_str("| Step | Runs | Phase |\n|---|---|---|\n");
    for u in units() {
        let Unit::Step(s) = u else {
            let _ = writeln!(
                out,
                "| {} | `unblock` (with `--tap`) | {} |",
                step_name(u.about().name, u.about().aliases),
                u.about().phase.as_str()
            );
            continue;
        };
        let runs = if s.default_on() {
            "by default (`--skip` leaves it out)".to_owned()
        } else if s.incident() {
            "with `--with` or `--incident`".to_owned()
        } else {
            "with `--with`".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {runs} | {} |",
            step_name(s.name(), s.aliases()),
            s.phase().as_str()
        );
    }
    // Verify is the engine's last phase, not a step: it always runs, with the clean-up.
    let _ = writeln!(
        out,
        "| {} | always | {} |",
        step_name(crate::engine::verify::NAME, &[]),
        crate::steps::Phase::CleanUp.as_str()
    );
    out.push_str("| `watch` (and `block --watch`) | `lockdown watch` | after the lockdown |\n");
    for (kind, title) in kinds {
        let _ = writeln!(out, "\n## {title}\n");
        out.push_str("| Step | Call | Permission | Role | Licence |\n|---|---|---|---|---|\n");
        let cx = RunCx::new(kind);
        let rows = units()
            .map(|u| (step_name(u.name(), u.about().aliases), u.requires(&cx)))
            .chain(std::iter::once((
                step_name(crate::engine::verify::NAME, &[]),
                crate::engine::verify::requires(&cx),
            )))
            .chain(std::iter::once((
                "`watch`".to_owned(),
                crate::watch::requires(kind),
            )));
        for (step, reqs) in rows {
            if reqs.is_empty() {
                let _ = writeln!(
                    out,
                    "| {step} | (declares none: `check` does not judge it) | | | |"
                );
            }
            for r in reqs {
                requirement_row(&mut out, &step, &r);
            }
        }
    }
    out
}

fn step_name(name: &str, aliases: &[&str]) -> String {
    if aliases.is_empty() {
        format!("`{name}`")
    } else {
        let a: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
        format!("`{name}` ({})", a.join(", "))
    }
}

fn requirement_row(out: &mut String, step: &str, r: &Requirement) {
    let permission = match r.permissions {
        Permissions::AnyOf(sets) => sets
            .iter()
            .map(|set| {
                set.iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join("; or "),
        Permissions::Unsupported(why) => {
            format!("not offered to this kind of token: {}", cell(why))
        }
    };
    let roles = r.roles.join(", ");
    let licence = r
        .licence
        .map(|l| format!("{} (`{}`)", l.name(), l.plan()))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| {step} | `{}` | {permission} | {roles} | {licence} |",
        r.call.replace('|', "\\|")
    );
}
