//! `lockdown completions SHELL` and `lockdown man`: what a shell and `man` need, generated from
//! the same clap definitions as `--help` (so they cannot drift from it) and printed to stdout,
//! for the person or the package to put where their system looks.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::{ExitStatus, Fatal};
use crate::cli::Cli;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Result<ExitStatus, Fatal> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lockdown", &mut script);
    print(&script)
}

/// The man page, lockdown(1), in roff.
pub fn man() -> Result<ExitStatus, Fatal> {
    let mut page = Vec::new();
    render_man(&mut page)
        .map_err(|e| Fatal::caused(ExitStatus::Failure, "could not render the man page", e))?;
    print(&page)
}

/// roff's way to print a straight apostrophe, which clap_mangen (through `roff`) puts before
/// every piece it renders.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The environment lockdown reads, for the man page.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        crate::auth::ACCESS_TOKEN_VAR,
        "a Graph access token obtained elsewhere (--auth access-token, or first for --auth auto); set but empty stops the run (exit 3)",
    ),
    ("AZURE_TENANT_ID", "the tenant of the app's sign-in (secret, certificate, workload identity; optional for azure-cli)"),
    ("AZURE_CLIENT_ID", "the app's client id; for a managed identity, picks a user-assigned one"),
    ("AZURE_CLIENT_SECRET", "the app's client secret (--auth secret)"),
    ("AZURE_CLIENT_CERTIFICATE_PATH", "the app's certificate, PKCS#12 (--auth certificate)"),
    ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "the certificate's password, if it has one"),
    ("AZURE_FEDERATED_TOKEN_FILE", "a federated token file (--auth workload-identity: Kubernetes, federated CI)"),
    ("AZURE_AUTHORITY_HOST", "the sign-in authority, instead of the one --cloud selects"),
    ("LOCKDOWN_GRAPH_URL", "the Graph root, as --graph-url"),
    ("LOCKDOWN_PROTECT", "accounts block never locks, comma-separated, as --protect"),
    ("RUST_LOG", "the log level on stderr, overriding -v (e.g. lockdown=debug)"),
    ("NO_COLOR", "set: no colour on stderr"),
];

/// Whether `arg` is one of the options several commands share (output, connection): the page
/// describes them once, not under each command.
fn shared(arg: &clap::Arg) -> bool {
    arg.get_help_heading()
        .is_some_and(|h| h == "Output options" || h == "Connection options")
}

/// One page for the whole tool: clap_mangen's sections for `lockdown` itself, the commands, each
/// command's own options under a heading of its name, the options several commands share (once),
/// then EXIT STATUS and ENVIRONMENT, so that `man lockdown` answers what `block --help` does.
fn render_man(w: &mut dyn Write) -> io::Result<()> {
    let cli = Cli::command();
    // Taken before the parent is built, a command holds only its own arguments and there is no
    // `help` command yet.
    let commands: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let page = Man::new(cli);
    let mut body = Vec::new();
    page.render_name_section(&mut body)?;
    page.render_synopsis_section(&mut body)?;
    page.render_description_section(&mut body)?;
    page.render_options_section(&mut body)?;
    // clap_mangen would point at one page per command (lockdown-block(1)); this page has them.
    writeln!(body, ".SH COMMANDS")?;
    for command in &commands {
        writeln!(body, ".TP")?;
        writeln!(body, "\\fBlockdown {}\\fR", roff_text(command.get_name()))?;
        if let Some(about) = command.get_about() {
            writeln!(body, "{}", roff_text(&about.to_string()))?;
        }
    }
    for command in &commands {
        if !command
            .get_arguments()
            .any(|a| !shared(a) && !a.is_hide_set())
        {
            continue;
        }
        let heading = format!("lockdown {} options", command.get_name());
        let command = command.clone().disable_help_flag(true).mut_args(|a| {
            if shared(&a) {
                a.hide(true)
            } else {
                a.help_heading(heading.clone())
            }
        });
        Man::new(command).render_options_section(&mut body)?;
    }
    // The shared options, from the command that takes them all, and who takes which.
    let takes = |id: &str| -> Vec<&str> {
        commands
            .iter()
            .filter(|c| c.get_arguments().any(|a| a.get_id() == id))
            .map(|c| c.get_name())
            .collect()
    };
    if let Some(widest) = commands
        .iter()
        .max_by_key(|c| c.get_arguments().filter(|a| shared(a)).count())
    {
        let command = widest.clone().disable_help_flag(true).mut_args(|a| {
            if shared(&a) {
                a
            } else {
                a.hide(true)
            }
        });
        Man::new(command).render_options_section(&mut body)?;
        writeln!(body, ".PP")?;
        writeln!(
            body,
            "{}",
            roff_text(&format!(
                "The output and connection options apply to {}, given after the command's name (or before it); --no-batch to {} only.",
                takes("auth").join(", "),
                takes("no_batch").join(", ")
            ))
        )?;
    }
    writeln!(body, ".SH \"EXIT STATUS\"")?;
    for status in ExitStatus::ALL {
        writeln!(body, ".TP")?;
        writeln!(body, "\\fB{}\\fR", status.code())?;
        writeln!(body, "{}", roff_text(status.meaning()))?;
    }
    writeln!(body, ".SH ENVIRONMENT")?;
    for (name, meaning) in ENVIRONMENT {
        writeln!(body, ".TP")?;
        writeln!(body, "\\fB{}\\fR", roff_text(name))?;
        writeln!(body, "{}", roff_text(meaning))?;
    }
    page.render_version_section(&mut body)?;
    let mut title = Vec::new();
    page.render_title(&mut title)?;
    // Each piece came with the preamble: the page starts with `.TH`, as man pages do, and
    // defines the apostrophe once, right after it.
    let strip = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).replace(APOSTROPHE_PREAMBLE, "");
    w.write_all(strip(title).as_bytes())?;
    w.write_all(APOSTROPHE_PREAMBLE.as_bytes())?;
    w.write_all(strip(body).as_bytes())
}

/// A line of roff text: a backslash, an apostrophe and a hyphen printed as themselves, and no
/// leading dot that roff would read as a request.
fn roff_text(text: &str) -> String {
    // `\-` is a minus sign, which `man` keeps as the `-` of an option for copy and paste.
    let text = text
        .replace('\\', "\\e")
        .replace('\'', "\\*(Aq")
        .replace('-', "\\-");
    if text.starts_with('.') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// Write to stdout; a reader that stops early (`lockdown man | head`) is not an error.
fn print(bytes: &[u8]) -> Result<ExitStatus, Fatal> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitStatus::Success),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitStatus::Success),
        Err(e) => Err(Fatal::caused(
            ExitStatus::Failure,
            "could not write to stdout",
            e,
        )),
    }
}
