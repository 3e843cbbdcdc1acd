//! Test support: an emulated tenant on a background runtime, and the real `lockdown` binary
//! run against it with a clean environment.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use lockdown_emulator::{Emulator, EmulatorConfig, RequestRecord, UserState};
use serde_json::Value;

pub struct Tenant {
    pub emu: Emulator,
    /// The emulator's certificate authority, for `SSL_CERT_FILE`, when it serves HTTPS.
    ca_file: Option<tempfile::TempPath>,
    /// Emulated seconds per real second (its throttling windows run that much faster).
    time_scale: f64,
    _rt: tokio::runtime::Runtime,
}

impl Tenant {
    pub fn start() -> Tenant {
        Tenant::with(EmulatorConfig::default())
    }

    /// A generated tenant of `users` users (`user00001@contoso.com` on) with Graph's limits
    /// enforced on a clock `time_scale` times faster than Graph's.
    pub fn bulk(users: usize, devices_per_user: usize, time_scale: f64) -> Tenant {
        Tenant::with(EmulatorConfig {
            seed: lockdown_emulator::Seed::Bulk {
                users,
                devices_per_user,
            },
            throttling: true,
            time_scale,
            ..EmulatorConfig::default()
        })
    }

    /// `block --yes -o json` for the first `users` users of a [`Tenant::bulk`], read from
    /// stdin, lockdown's own pacing on the tenant's clock.
    pub fn block_bulk(&self, users: usize, extra: &[&str]) -> Run {
        let list: String = (1..=users)
            .map(|i| format!("user{i:05}@contoso.com\n"))
            .collect();
        self.lockdown()
            .env("LOCKDOWN_TIME_SCALE", &self.time_scale.to_string())
            .args(["block", "--yes", "-o", "json", "--from", "-"])
            .args(extra)
            .stdin(&list)
            .run()
    }

    pub fn with(config: EmulatorConfig) -> Tenant {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let time_scale = config.time_scale;
        let emu = rt
            .block_on(Emulator::start(config))
            .expect("emulator starts");
        let ca_file = emu.ca_pem().map(|pem| {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(pem.as_bytes()).unwrap();
            f.into_temp_path()
        });
        Tenant {
            emu,
            ca_file,
            time_scale,
            _rt: rt,
        }
    }

    /// The tenant over HTTPS, as Entra's sign-in endpoint must be.
    pub fn https() -> Tenant {
        Tenant::with(EmulatorConfig {
            tls: true,
            ..EmulatorConfig::default()
        })
    }

    /// `lockdown` against this tenant with no credentials set, trusting its certificate.
    pub fn bare(&self) -> Cmd {
        let mut cmd = Cmd::bare();
        cmd.env("LOCKDOWN_GRAPH_URL", &self.emu.url());
        if let Some(ca) = &self.ca_file {
            cmd.env("SSL_CERT_FILE", ca.to_str().unwrap());
        }
        cmd
    }

    /// `lockdown` against this tenant, signed in as the admin (delegated, Global Administrator).
    pub fn lockdown(&self) -> Cmd {
        let mut cmd = self.bare();
        cmd.env("LOCKDOWN_ACCESS_TOKEN", &self.emu.admin_token());
        cmd
    }

    /// `lockdown block --yes -o json ARGS...` as the admin.
    pub fn block_json(&self, args: &[&str]) -> Run {
        self.lockdown()
            .args(["block", "--yes", "-o", "json"])
            .args(args)
            .run()
    }

    /// No token of this tenant (nor the tail of one, its signature) and no password it was
    /// given appears in `text`.
    pub fn assert_nothing_secret(&self, text: &str) {
        for token in [self.emu.admin_token(), self.emu.app_token()] {
            assert!(!text.contains(&token), "a token leaked");
            assert!(
                !text.contains(&token[token.len() - 20..]),
                "a token's signature leaked"
            );
        }
        for u in self.emu.users() {
            if let Some(pw) = u.password {
                assert!(
                    !text.contains(&pw),
                    "the password of {} leaked",
                    u.user_principal_name
                );
            }
        }
    }

    pub fn user(&self, key: &str) -> UserState {
        self.emu
            .user(key)
            .unwrap_or_else(|| panic!("no user {key} in the tenant"))
    }

    pub fn writes(&self) -> Vec<RequestRecord> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| r.is_write())
            .collect()
    }
}

pub struct Cmd {
    cmd: Command,
    stdin: Option<String>,
}

impl Cmd {
    /// The binary with an empty environment (no Azure variables leak in from the host).
    pub fn bare() -> Cmd {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockdown"));
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("LOCKDOWN_TIME_SCALE", "50");
        Cmd { cmd, stdin: None }
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg_path(&mut self, path: &std::path::Path) -> &mut Self {
        self.cmd.arg(path);
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(&mut self, input: &str) -> &mut Self {
        self.stdin = Some(input.to_owned());
        self
    }

    pub fn run(&mut self) -> Run {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = self.cmd.spawn().expect("lockdown runs");
        {
            let mut stdin = child.stdin.take().unwrap();
            if let Some(input) = &self.stdin {
                stdin.write_all(input.as_bytes()).unwrap();
            }
        }
        let out = wait_with_timeout(child, Duration::from_secs(120));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Cmd {
    /// Start the binary and return at once, so a test can change the tenant while it runs.
    pub fn spawn(&mut self) -> Running {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = self.cmd.spawn().expect("lockdown runs");
        drop(child.stdin.take());
        Running { child }
    }
}

/// A `lockdown` process still running.
pub struct Running {
    child: std::process::Child,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.id().to_string())
            .status();
    }

    pub fn wait(self) -> Run {
        let out = wait_with_timeout(self.child, Duration::from_secs(120));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("lockdown did not finish within {limit:?}");
        }
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON Lines; every line must be JSON.
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{self:?}"))
            })
            .collect()
    }

    pub fn one(&self) -> Value {
        let lines = self.lines();
        assert_eq!(lines.len(), 1, "expected one JSON line: {self:?}");
        lines.into_iter().next().unwrap()
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n{self:?}");
        self
    }
}

/// The status of step `name` in a user's JSON report.
pub fn step<'a>(user: &'a Value, name: &str) -> &'a Value {
    user["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {user}"))
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {user}"))
}

pub fn status_of<'a>(user: &'a Value, name: &str) -> &'a str {
    step(user, name)["status"].as_str().unwrap()
}

/// Output with what changes from run to run replaced: GUIDs, timestamps, loopback ports and
/// elapsed seconds. For snapshots of what people read.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let is_hex = |c: char| c.is_ascii_hexdigit();
    let matches = |at: usize, pattern: &str| -> bool {
        // `h` a hex digit, `d` a digit, anything else itself.
        pattern.chars().enumerate().all(|(k, p)| {
            chars.get(at + k).is_some_and(|&c| match p {
                'h' => is_hex(c),
                'd' => c.is_ascii_digit(),
                other => c == other,
            })
        })
    };
    const GUID: &str = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
    const TIME: &str = "dddd-dd-ddTdd:dd:ddZ";
    while i < chars.len() {
        if matches(i, GUID) {
            out.push_str("[GUID]");
            i += GUID.len();
        } else if matches(i, TIME) {
            out.push_str("[TIME]");
            i += TIME.len();
        } else if matches(i, "dd:dd:dd UTC") {
            // "contained at 14:02:11 UTC"
            out.push_str("[CLOCK] UTC");
            i += "dd:dd:dd UTC".len();
        } else if matches(i, "127.0.0.1:d") {
            out.push_str("127.0.0.1:[PORT]");
            i += "127.0.0.1:".len();
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
        } else if chars[i] == '(' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            // "(0.3s)" elapsed times.
            let mut j = i + 1;
            while chars
                .get(j)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                j += 1;
            }
            if chars.get(j) == Some(&'s') && chars.get(j + 1) == Some(&')') {
                out.push_str("([ELAPSED])");
                i = j + 2;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
