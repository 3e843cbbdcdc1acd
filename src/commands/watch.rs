//! `lockdown watch`: poll the sign-in logs (`GET /auditLogs/signIns`, learn:
//! graph/api/signin-list) for the users after a lockdown, print each new sign-in once, and
//! alert on a successful one after the user's lockdown time. Access tokens issued before a
//! revoke stay valid up to about an hour, and sign-ins reach the logs minutes late, so it
//! watches for a while (`--for`, default 15 minutes) rather than looking once. `block --watch`
//! runs the same loop ([`watch`]) for the users it just locked.
//!
//! Several users share one request (`userId eq ... or ...`), so a bulk watch stays within the
//! reporting service's limit of 5 requests per 10 s per app and tenant, which the pacer
//! mirrors. Every wait is in Graph seconds through the retry policy, so `LOCKDOWN_TIME_SCALE`
//! shortens it in tests.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::{connect, Access, ExitStatus, Fatal};
use crate::address::UserRef;
use crate::cli::{Global, OutputFormat, WatchArgs};
use crate::graph::sign_ins::{self, SignIn};
use crate::graph::{paging, users, GraphClient, GraphError};
use crate::signal::Cancel;
use crate::watch::{format_duration, from_report_line, SignInLine, Watched};

/// How long and how often.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long to watch, in Graph seconds.
    pub duration: Duration,
    /// Between polls, in Graph seconds.
    pub interval: Duration,
}

/// The default poll interval (`--interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

pub async fn run(global: &Global, args: &WatchArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    if args.users.is_empty() && args.from_report.is_none() {
        return Err(Fatal::usage(
            "no user given: name users as arguments or give a `block --report` file with --from-report FILE",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let mut watched: Vec<Watched> = Vec::new();
    if let Some(path) = &args.from_report {
        watched.extend(read_report(path, now)?);
    }
    let mut refs = Vec::new();
    for raw in &args.users {
        let user = UserRef::parse(raw.trim())
            .map_err(|e| Fatal::usage(format!("`{raw}` is not a user: {e}")))?;
        refs.push((raw.trim().to_owned(), user));
    }
    let session = connect(global, Access::ReadOnly).await?;
    let since = args.since.unwrap_or(now);
    for (raw, user) in refs {
        watched.push(resolve(&session.client, &raw, &user, since).await?);
    }
    let opts = Options {
        duration: args.duration,
        interval: Duration::from_secs(args.interval),
    };
    watch(&session.client, watched, opts, global.output, &cancel).await
}

/// The users of a `block --report` file, each from its revoke time.
fn read_report(path: &std::path::Path, now: OffsetDateTime) -> Result<Vec<Watched>, Fatal> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Fatal::caused(
            ExitStatus::Usage,
            format!("cannot read the report `{}`", path.display()),
            e,
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: crate::steps::Record = serde_json::from_str(line).map_err(|e| {
            Fatal::usage(format!(
                "line {} of `{}` is not a JSON line of a `block --report` file: {e}",
                n + 1,
                path.display()
            ))
        })?;
        match from_report_line(&value, now) {
            Some((w, note)) => {
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                out.push(w);
            }
            None => tracing::info!(
                "line {} of `{}` names no user id (not found or malformed); not watched",
                n + 1,
                path.display()
            ),
        }
    }
    if out.is_empty() {
        return Err(Fatal::usage(format!(
            "`{}` names no user to watch (no line with an `id`)",
            path.display()
        )));
    }
    Ok(out)
}

/// A user named on the command line, by its object id.
async fn resolve(
    client: &GraphClient,
    raw: &str,
    user: &UserRef,
    since: OffsetDateTime,
) -> Result<Watched, Fatal> {
    let who = user.to_string();
    match client
        .send(&users::get(&who), &format!("{raw}: resolve"))
        .await
        .and_then(|r| users::decode(&r))
    {
        Ok(u) => Ok(Watched {
            label: u
                .user_principal_name
                .clone()
                .unwrap_or_else(|| raw.to_owned()),
            id: u.id.0,
            since,
        }),
        Err(e) if e.is_unauthorized() || e.is_token_expired() => Err(Fatal::auth(
            format!("Graph rejected the token: {e}"),
            crate::hints::common(&e).map(|h| h.0),
        )),
        Err(e) => {
            let mut fatal = Fatal::usage(format!("cannot watch `{raw}`: {e}"));
            if let Some(h) = crate::hints::read_user(&e) {
                fatal = fatal.with_hint(h.0);
            }
            Err(fatal)
        }
    }
}

/// Poll the sign-in logs of `users` for `opts.duration`, printing each new sign-in once.
/// Exit 1 if a sign-in succeeded after a user's lockdown time, 0 if none did, 130 on Ctrl-C
/// (with the summary so far).
pub async fn watch(
    client: &GraphClient,
    users: Vec<Watched>,
    opts: Options,
    format: OutputFormat,
    cancel: &Cancel,
) -> Result<ExitStatus, Fatal> {
    // One entry per user, from its earliest time.
    let mut by_id: HashMap<String, Watched> = HashMap::new();
    for w in users {
        let key = w.id.to_ascii_lowercase();
        match by_id.get_mut(&key) {
            Some(have) if have.since <= w.since => {}
            _ => {
                by_id.insert(key, w);
            }
        }
    }
    let mut all: Vec<Watched> = by_id.values().cloned().collect();
    all.sort_by(|a, b| a.label.cmp(&b.label));
    let filters: Vec<String> = all
        .chunks(sign_ins::USERS_PER_REQUEST)
        .map(|group| {
            let ids: Vec<&str> = group.iter().map(|w| w.id.as_str()).collect();
            let since = group
                .iter()
                .map(|w| w.since)
                .min()
                .expect("a group has users");
            sign_ins::filter(&ids, since)
        })
        .collect();
    let policy = client.retry_policy().clone();
    let started = Instant::now();
    let deadline = started + policy.real(opts.duration);
    eprintln!(
        "watching the sign-ins of {} user(s) for {}, polling every {} (sign-in logs arrive minutes late; Graph v1.0 lists interactive sign-ins)",
        all.len(),
        format_duration(opts.duration),
        format_duration(opts.interval)
    );
    let mut seen: HashSet<String> = HashSet::new();
    let mut tally = Tally::default();
    let mut first = true;
    loop {
        let poll = poll(client, &filters, &by_id, &mut seen, first);
        let lines = tokio::select! {
            r = poll => r?,
            _ = cancel.cancelled() => break,
        };
        first = false;
        for line in lines {
            tally.add(&line);
            print(format, &line);
        }
        let now = Instant::now();
        if now >= deadline || cancel.is_cancelled() {
            break;
        }
        let wait = policy.real(opts.interval).min(deadline - now);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => break,
        }
    }
    eprintln!(
        "watch: {} user(s) for {}: {} sign-in(s), {} successful, {} alert(s){}",
        all.len(),
        format_duration(started.elapsed().mul_f64(policy.time_scale)),
        tally.sign_ins,
        tally.successes,
        tally.alerts,
        if tally.alerts > 0 {
            ": someone signed in after the lockdown; access tokens issued before a revoke stay valid up to about an hour"
        } else {
            ""
        }
    );
    Ok(if cancel.is_cancelled() {
        ExitStatus::Interrupted
    } else if tally.alerts > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

#[derive(Default)]
struct Tally {
    sign_ins: usize,
    successes: usize,
    alerts: usize,
}

impl Tally {
    fn add(&mut self, line: &SignInLine) {
        self.sign_ins += 1;
        if line.result == "success" {
            self.successes += 1;
        }
        if line.alert {
            self.alerts += 1;
        }
    }
}

fn print(format: OutputFormat, line: &SignInLine) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        OutputFormat::Json => writeln!(out, "{}", line.to_json_line()),
        OutputFormat::Text => write!(out, "{}", line.to_text()),
    };
    let _ = out.flush();
}

/// One round: every group's sign-ins, every page; the new ones, oldest first. A poll that
/// fails is a warning (the next one may work), except a refusal Graph will repeat every time
/// (403: a licence or a permission; 400: the request), which ends the watch with exit 2, and a
/// rejected token (exit 3).
async fn poll(
    client: &GraphClient,
    filters: &[String],
    users: &HashMap<String, Watched>,
    seen: &mut HashSet<String>,
    first: bool,
) -> Result<Vec<SignInLine>, Fatal> {
    let mut fresh: Vec<SignInLine> = Vec::new();
    for filter in filters {
        let page =
            paging::collect_all::<SignIn>(client, sign_ins::list(filter), "watch: sign-ins").await;
        let list = match page {
            Ok(list) => list,
            Err(e) => {
                if let Some(fatal) = refusal(&e, first) {
                    return Err(fatal);
                }
                tracing::warn!("watch: could not read sign-in logs this time ({e}); trying again at the next poll");
                continue;
            }
        };
        for s in list {
            if !seen.insert(s.id.clone()) {
                continue;
            }
            let since = s
                .user_id
                .as_deref()
                .and_then(|id| users.get(&id.to_ascii_lowercase()))
                .map(|w| w.since);
            // Another user of the same group signed in before this one's lockdown time.
            let Some(since) = since.filter(|since| s.created_date_time >= *since) else {
                continue;
            };
            fresh.push(SignInLine::new(&s, since));
        }
    }
    fresh.sort_by(|a, b| a.created_date_time.cmp(&b.created_date_time));
    Ok(fresh)
}

/// The errors that end a watch.
fn refusal(e: &GraphError, first: bool) -> Option<Fatal> {
    if e.is_unauthorized() || e.is_token_expired() {
        return Some(Fatal::auth(
            format!("Graph rejected the token while watching sign-ins: {e}"),
            crate::hints::common(e).map(|h| h.0),
        ));
    }
    let api = e.api()?;
    if api.status == 403 && e.code() == sign_ins::NON_PREMIUM {
        return Some(
            Fatal::new(
                ExitStatus::Usage,
                format!("Graph will not list this tenant's sign-in logs: {e}"),
            )
            .with_hint(
                "sign-in logs through Graph need Microsoft Entra ID P1 or P2 in the tenant (service plan AAD_PREMIUM), and the token needs AuditLog.Read.All",
            ),
        );
    }
    if api.status == 403 {
        return Some(
            Fatal::new(
                ExitStatus::Usage,
                format!("Graph refused to list sign-in logs: {e}"),
            )
            .with_hint(
                "the token needs AuditLog.Read.All (some tenants also ask for Directory.Read.All), and a delegated caller a role that may read sign-in reports: Reports Reader, Security Reader, Security Operator, Security Administrator or Global Reader",
            ),
        );
    }
    if api.status == 400 && first {
        return Some(Fatal::new(
            ExitStatus::Usage,
            format!("Graph refused the sign-in query: {e}"),
        ));
    }
    None
}
