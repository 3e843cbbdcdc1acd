//! The users a run works on, from arguments and `--from`: validated, de-duplicated and read
//! lazily, so a list of any length starts at once and uses the same memory.

use crate::address::UserRef;
use crate::error::{ExitStatus, Fatal};
use crate::input::{Item, TargetReader};
use crate::steps::Record;

/// A user to work on, as given.
#[derive(Debug, Clone)]
pub struct Job {
    pub raw: String,
    pub user: UserRef,
    /// `unblock --from-report`: the user's line of the `block` report.
    pub record: Option<Box<Record>>,
}

/// An entry that is not a user reference, reported with where it came from.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub raw: String,
    pub line: Option<usize>,
    pub reason: String,
}

/// One entry of the input: a user to work on, or a line that is not one.
#[derive(Debug, Clone)]
pub enum Next {
    Job(Job),
    Rejected(Rejected),
}

/// Users from arguments and `--from`, validated and de-duplicated case-insensitively, read
/// lazily: a reader thread feeds a bounded channel, so memory stays flat however long the
/// file, and work starts before it is read to the end.
pub struct Targets {
    buffered: std::collections::VecDeque<Next>,
    rx: Option<tokio::sync::mpsc::Receiver<std::io::Result<Item>>>,
    seen: crate::input::Dedup,
    source: String,
    /// `block --preflight`: every entry handed out, kept in order for the run that follows.
    kept: Option<Vec<Next>>,
}

impl Targets {
    /// Open the sources. A file that cannot be opened, or input without a single valid user,
    /// is a usage error before anything is sent.
    pub async fn open(users: &[String], from: Option<&std::path::Path>) -> Result<Targets, Fatal> {
        if users.is_empty() && from.is_none() {
            return Err(Fatal::usage(
                "no user given: name users as arguments or with --from FILE",
            ));
        }
        let mut targets = Targets {
            buffered: Default::default(),
            rx: None,
            seen: crate::input::Dedup::new(),
            source: String::new(),
            kept: None,
        };
        for raw in users {
            let trimmed = raw.trim();
            let next = match UserRef::parse(trimmed) {
                Ok(user) => Next::Job(Job {
                    raw: trimmed.to_owned(),
                    user,
                    record: None,
                }),
                Err(e) => Next::Rejected(Rejected {
                    raw: raw.clone(),
                    line: None,
                    reason: argument_problem(trimmed).unwrap_or_else(|| e.to_string()),
                }),
            };
            if let Some(next) = targets.dedup(next) {
                targets.buffered.push_back(next);
            }
        }
        if let Some(path) = from {
            targets.source = path.display().to_string();
            let reader: Box<dyn std::io::BufRead + Send> = if path.as_os_str() == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                let file = std::fs::File::open(path).map_err(|e| {
                    Fatal::caused(
                        ExitStatus::Usage,
                        format!("cannot read `{}`", path.display()),
                        e,
                    )
                })?;
                Box::new(std::io::BufReader::new(file))
            };
            let reader = TargetReader::new(reader).map_err(|e| {
                Fatal::caused(
                    ExitStatus::Usage,
                    format!("cannot read `{}`", targets.source),
                    e,
                )
            })?;
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            std::thread::spawn(move || {
                for item in reader {
                    if tx.blocking_send(item).is_err() {
                        break;
                    }
                }
            });
            targets.rx = Some(rx);
        }
        // Make sure there is something to do: read up to the first valid user.
        if !targets.buffered.iter().any(|n| matches!(n, Next::Job(_))) {
            while let Some(next) = targets.read().await? {
                let is_job = matches!(next, Next::Job(_));
                targets.buffered.push_back(next);
                if is_job {
                    break;
                }
            }
        }
        if !targets.buffered.iter().any(|n| matches!(n, Next::Job(_))) {
            let mut msg = String::from("no valid user given");
            match targets.buffered.front() {
                Some(Next::Rejected(first)) if first.raw.trim().is_empty() => {
                    msg.push_str(&format!("; {}", first.reason));
                }
                Some(Next::Rejected(first)) => msg.push_str(&format!(
                    "; `{}`{}: {}",
                    first.raw,
                    first
                        .line
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default(),
                    first.reason
                )),
                _ => {}
            }
            return Err(Fatal::usage(msg));
        }
        Ok(targets)
    }

    /// Entries already read and checked (by `block --preflight`, or parsed from a `block`
    /// report by `unblock`), to be run in the same order; a user given twice runs once.
    pub fn replay(entries: Vec<Next>) -> Targets {
        let mut targets = Targets {
            buffered: Default::default(),
            rx: None,
            seen: crate::input::Dedup::new(),
            source: String::new(),
            kept: None,
        };
        for next in entries {
            if let Some(next) = targets.dedup(next) {
                targets.buffered.push_back(next);
            }
        }
        targets
    }

    /// The first `n` users, read ahead (for the confirmation prompt); more may follow.
    pub async fn peek_jobs(&mut self, n: usize) -> Result<(Vec<String>, bool), Fatal> {
        while self
            .buffered
            .iter()
            .filter(|x| matches!(x, Next::Job(_)))
            .count()
            <= n
        {
            match self.read().await? {
                Some(next) => self.buffered.push_back(next),
                None => break,
            }
        }
        let jobs: Vec<String> = self
            .buffered
            .iter()
            .filter_map(|x| match x {
                Next::Job(j) => Some(j.raw.clone()),
                Next::Rejected(_) => None,
            })
            .collect();
        let more = jobs.len() > n;
        Ok((jobs.into_iter().take(n).collect(), more))
    }

    /// Users not started yet, as far as the input has been read, and whether that is all of
    /// them (the input is read to its end), for the progress line's estimate of the time left.
    pub fn waiting(&self) -> (usize, bool) {
        let buffered = self
            .buffered
            .iter()
            .filter(|n| matches!(n, Next::Job(_)))
            .count();
        match &self.rx {
            None => (buffered, true),
            Some(rx) => (buffered + rx.len(), rx.is_closed()),
        }
    }

    /// Whether the input is stdin (which then cannot answer a prompt).
    pub fn reads_stdin(&self) -> bool {
        self.source == "-"
    }

    /// The next entry, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Next>, Fatal> {
        let next = match self.buffered.pop_front() {
            Some(next) => Some(next),
            None => self.read().await?,
        };
        if let (Some(kept), Some(next)) = (&mut self.kept, &next) {
            kept.push(next.clone());
        }
        Ok(next)
    }

    /// Keep every entry handed out from now on ([`Targets::kept`]): `block --preflight` reads
    /// the users once for the check, then runs the same ones in the same order.
    pub fn keep(&mut self) {
        self.kept.get_or_insert_with(Vec::new);
    }

    /// The entries handed out since [`Targets::keep`], in order.
    pub fn kept(&mut self) -> Vec<Next> {
        self.kept.take().unwrap_or_default()
    }

    async fn read(&mut self) -> Result<Option<Next>, Fatal> {
        loop {
            let Some(rx) = &mut self.rx else {
                return Ok(None);
            };
            let item = match rx.recv().await {
                None => {
                    self.rx = None;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.rx = None;
                    return Err(Fatal::caused(
                        ExitStatus::Failure,
                        format!("stopped reading `{}`", self.source),
                        e,
                    ));
                }
                Some(Ok(item)) => item,
            };
            let next = match item {
                Item::Entry(entry) => Next::Job(Job {
                    raw: entry.raw,
                    user: entry.user,
                    record: None,
                }),
                Item::Bad(bad) => Next::Rejected(Rejected {
                    raw: bad.raw,
                    line: Some(bad.line),
                    reason: bad.reason,
                }),
            };
            if let Some(next) = self.dedup(next) {
                return Ok(Some(next));
            }
        }
    }

    fn dedup(&mut self, next: Next) -> Option<Next> {
        if let Next::Job(job) = &next {
            if !self.seen.first_time(&job.user.dedup_key()) {
                tracing::info!("{}: given more than once; acting on it once", job.raw);
                return None;
            }
        }
        Some(next)
    }
}

/// What is wrong with an argument that is not a user, when it is a mistake of the command line
/// rather than of the name: an empty argument (`""`, an unset shell variable), or several users
/// in one argument, separated by commas.
fn argument_problem(arg: &str) -> Option<String> {
    if arg.is_empty() {
        return Some("empty user name".to_owned());
    }
    let parts: Vec<&str> = arg.split(',').map(str::trim).collect();
    if parts.len() > 1 && parts.iter().filter(|p| UserRef::parse(p).is_ok()).count() > 1 {
        return Some(
            "holds several users separated by commas: separate users with spaces, or read them from a file with --from FILE"
                .to_owned(),
        );
    }
    None
}
