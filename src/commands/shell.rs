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

/// One page for the whole tool: clap_mangen's sections for `lockdown` itself (its options,
/// the global ones under their own heading), the commands, then each command's own options
/// under a heading of its name, so that `man lockdown` answers what `block --help` does.
fn render_man(w: &mut dyn Write) -> io::Result<()> {
    let cli = Cli::command();
    // Taken before the parent is built, a command holds only its own arguments (the global
    // ones are described once, for `lockdown` itself) and there is no `help` command yet.
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
    for command in commands {
        let heading = format!("lockdown {} options", command.get_name());
        let command = command
            .disable_help_flag(true)
            .mut_args(|a| a.help_heading(heading.clone()));
        Man::new(command).render_options_section(&mut body)?;
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

/// A line of roff text: a backslash and an apostrophe printed as themselves, and no leading
/// dot that roff would read as a request.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('\'', "\\*(Aq");
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
