//! Where results go: data to stdout (JSON Lines or text), one line per user as each finishes,
//! and the same JSON line to `--report FILE`, flushed per line so a crash loses at most the
//! users in flight.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::cli::OutputFormat;
use crate::commands::{ExitStatus, Fatal};
use crate::report::UserReport;

pub struct Printer {
    format: OutputFormat,
    report: Option<BufWriter<File>>,
}

impl Printer {
    pub fn new(format: OutputFormat, report: Option<&Path>) -> Result<Self, Fatal> {
        let report = match report {
            None => None,
            Some(path) => Some(BufWriter::new(File::create(path).map_err(|e| {
                Fatal::usage(format!("cannot write the report `{}`: {e}", path.display()))
            })?)),
        };
        Ok(Printer { format, report })
    }

    pub fn emit(&mut self, user: &UserReport) -> Result<(), Fatal> {
        let mut out = std::io::stdout().lock();
        let line = user.to_json_line();
        let written = match self.format {
            OutputFormat::Json => writeln!(out, "{line}"),
            OutputFormat::Text => write!(out, "{}", user.to_text()),
        };
        // A closed pipe (`| head`) is not worth a panic; the report file still gets the line.
        let _ = written.and_then(|_| out.flush());
        if let Some(file) = &mut self.report {
            // Writes may already have been sent: this is a failure, not a usage error.
            writeln!(file, "{line}")
                .and_then(|_| file.flush())
                .map_err(|e| Fatal {
                    status: ExitStatus::Failure,
                    message: format!("cannot write the report: {e}"),
                    hint: None,
                })?;
        }
        Ok(())
    }
}
