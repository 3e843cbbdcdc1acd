//! How a run ends: the exit status scripts rely on, and the error that ends a run before (or
//! instead of) per-user results. The error keeps its cause chain; `main` prints the chain and
//! the hint once.

use std::fmt;

/// How the process ends. Scripts rely on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every user locked, already locked, planned (dry run) or found (status).
    Success,
    /// Some user partial, failed, refused, not found or given as a malformed entry.
    Failure,
    /// Bad flags, unreadable input, insecure Graph URL; nothing was sent.
    Usage,
    /// No usable credentials, an empty or expired token, or a token Graph rejects.
    Auth,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl ExitStatus {
    /// Every status, in the order of their numbers (for the man page).
    pub const ALL: [ExitStatus; 5] = [
        ExitStatus::Success,
        ExitStatus::Failure,
        ExitStatus::Usage,
        ExitStatus::Auth,
        ExitStatus::Interrupted,
    ];

    /// What the status means, for the man page's EXIT STATUS.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => {
                "every user locked, already locked, restored, planned (dry run) or found (status); check: nothing expected to fail; watch: no alert"
            }
            ExitStatus::Failure => {
                "some user partial, failed, refused, not found or given as a malformed entry; check: a step is expected to fail; watch: a successful sign-in after the lockdown; the confirmation was declined"
            }
            ExitStatus::Usage => {
                "bad flags, unreadable input, an insecure Graph URL: nothing was sent"
            }
            ExitStatus::Auth => {
                "no usable credentials, an empty or expired token, or a token Graph rejects"
            }
            ExitStatus::Interrupted => "interrupted by Ctrl-C or SIGTERM (the sandbox server stops this way)",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Auth => 3,
            ExitStatus::Interrupted => 130,
        }
    }
}

/// An error that ends the run before (or instead of) per-user results.
#[derive(Debug)]
pub struct Fatal {
    pub status: ExitStatus,
    pub error: anyhow::Error,
    pub hint: Option<String>,
}

impl Fatal {
    pub fn new(status: ExitStatus, message: String) -> Self {
        Fatal {
            status,
            error: anyhow::Error::msg(message),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Fatal::new(ExitStatus::Usage, message.into())
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Fatal::new(ExitStatus::Failure, message.into())
    }

    pub fn auth(message: impl Into<String>, hint: Option<String>) -> Self {
        Fatal {
            hint,
            ..Fatal::new(ExitStatus::Auth, message.into())
        }
    }

    /// `context` in front of an error that keeps its own cause chain.
    pub fn caused(
        status: ExitStatus,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Fatal {
            status,
            error: anyhow::Error::new(source).context(context.into()),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What `main` prints: `error: <context>: <cause>: ...`, then the hint.
    pub fn render(&self) -> String {
        let mut out = format!("error: {:#}", self.error);
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\nhint: {hint}"));
        }
        out
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}
