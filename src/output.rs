//! Where results go: data to stdout (JSON Lines or text), one line per user as each finishes,
//! and the same JSON line to `--report FILE`, flushed per line so a crash loses at most the
//! users in flight.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::check::Line;
use crate::cli::OutputFormat;
use crate::error::{ExitStatus, Fatal};
use crate::report::UserReport;

pub struct Printer {
    format: OutputFormat,
    report: Option<(PathBuf, BufWriter<File>)>,
    /// Set once the report file could not be written; stdout still gets every line.
    report_error: Option<String>,
    /// Also handed each user as it is printed (`block --watch` collects the users it locked).
    tee: Option<Tee>,
    /// `block --preflight`: the check's lines are kept, to be printed only if the run stops.
    held: Option<Vec<Line>>,
}

/// Something else that takes each user's report as it is printed.
pub type Tee = Box<dyn FnMut(&UserReport) + Send>;

impl Printer {
    /// Open the report file, if any: one that cannot be created is a usage error before
    /// anything is sent.
    pub fn new(format: OutputFormat, report: Option<&Path>) -> Result<Self, Fatal> {
        let report = match report {
            None => None,
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    Fatal::caused(
                        ExitStatus::Usage,
                        format!("cannot write the report `{}`", path.display()),
                        e,
                    )
                })?;
                Some((path.to_owned(), BufWriter::new(file)))
            }
        };
        Ok(Printer {
            format,
            report,
            report_error: None,
            tee: None,
            held: None,
        })
    }

    /// A printer for `block --preflight`: it keeps the check's lines instead of printing them
    /// ([`Printer::held`]).
    pub fn holding(format: OutputFormat) -> Printer {
        Printer {
            format,
            report: None,
            report_error: None,
            tee: None,
            held: Some(Vec::new()),
        }
    }

    /// The check's lines kept so far (see [`Printer::holding`]).
    pub fn held(&mut self) -> Vec<Line> {
        self.held.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Print one line of `check` (the caller's, or a target's), or keep it when holding.
    pub fn check_line(&mut self, line: Line) {
        match &mut self.held {
            Some(held) => held.push(line),
            None => print_check_line(self.format, &line),
        }
    }

    /// Hand every user printed from now on to `tee` too.
    pub fn tee(&mut self, tee: Tee) {
        self.tee = Some(tee);
    }

    /// Print one user. Stdout always gets it; an error says the report file could not take it
    /// (then, and after, it is not written to again).
    pub fn emit(&mut self, user: &UserReport) -> Result<(), String> {
        if let Some(tee) = &mut self.tee {
            tee(user);
        }
        let mut out = std::io::stdout().lock();
        let written = match self.format {
            OutputFormat::Json => writeln!(out, "{}", user.to_json_line()),
            OutputFormat::Text => write!(out, "{}", user.to_text()),
        };
        // A closed pipe (`| head`) is not worth a panic; the report file still gets the line.
        let _ = written.and_then(|_| out.flush());
        if self.report_error.is_some() {
            return Ok(());
        }
        if let Some((path, file)) = &mut self.report {
            // What is shown once (a Temporary Access Pass) never reaches the file.
            let line = user.to_record_line();
            if let Err(e) = writeln!(file, "{line}").and_then(|_| file.flush()) {
                let message = format!("cannot write the report `{}`: {e}", path.display());
                self.report_error = Some(message.clone());
                return Err(message);
            }
        }
        Ok(())
    }

    /// Why the report file stopped being written, if it did.
    pub fn report_error(&self) -> Option<&str> {
        self.report_error.as_deref()
    }
}

/// Print one line of `check` to stdout; a closed pipe is not worth a panic.
pub fn print_check_line(format: OutputFormat, line: &Line) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        OutputFormat::Json => writeln!(out, "{}", line.to_json_line()),
        OutputFormat::Text => write!(out, "{}", line.to_text()),
    };
    let _ = out.flush();
}
