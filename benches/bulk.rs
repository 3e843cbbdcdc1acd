//! Bulk lockdown against the emulated tenant: `cargo bench --bench bulk`.
//!
//! Runs the real release binary against the emulator with 50 ms of latency on every request
//! and Graph's identity-and-access limits enforced on a faster clock, and prints:
//! - one user with 2 devices: wall time and sequential round trips;
//! - 1,000 users with 2 devices each: wall time, users per second, requests, operations and
//!   429s, and the wall time over the floor the enforced limits imply;
//! - `--incident` for one user (Nestor: 2 devices, 3 methods, 2 rules, 1 consent): round trips;
//! - `--incident` for 100 users at the limits: wall time over the floor the identity and access
//!   reports limit (authentication methods) and identity protection's 1 request a second imply;
//! - time to containment (every user disabled, as the tenant shows it) for 100 users with
//!   `--incident`, then with `--incident --evidence`: the evidence must not move it;
//! - peak memory (RSS) of lockdown for 1,000 and 10,000 users.
//!
//! A benchmark, not a test: it prints figures and asserts nothing about time.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockdown_emulator::throttle::{
    ru_limit_for_tenant, APP_WRITE_LIMIT, APP_WRITE_WINDOW_SECS, DEVICE_WRITE_LIMIT,
    DEVICE_WRITE_WINDOW_SECS, IDENTITY_PROTECTION_PER_SEC, REPORTS_LIMIT, REPORTS_WINDOW_SECS,
    RU_WINDOW_SECS, TENANT_WRITE_LIMIT, TENANT_WRITE_WINDOW_SECS,
};
use lockdown_emulator::{Emulator, EmulatorConfig, Seed};

const LATENCY: Duration = Duration::from_millis(50);
/// Emulated seconds per real second for the throttled run.
const TIME_SCALE: f64 = 10.0;

struct Outcome {
    wall: Duration,
    max_rss_kib: i64,
    outcomes: std::collections::BTreeMap<String, usize>,
    exit: i32,
}

fn run(emu: &Emulator, users: &[String], time_scale: f64) -> Outcome {
    run_with(emu, users, time_scale, &[])
}

fn run_with(emu: &Emulator, users: &[String], time_scale: f64, extra: &[&str]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockdown"))
        .env_clear()
        .env("LOCKDOWN_GRAPH_URL", emu.url())
        .env("LOCKDOWN_ACCESS_TOKEN", emu.admin_token())
        .env("LOCKDOWN_TIME_SCALE", time_scale.to_string())
        .args(["block", "--yes", "-o", "json", "--from", "-"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lockdown runs");
    let started = Instant::now();
    let mut stdin = child.stdin.take().unwrap();
    let list = users.join("\n");
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(list.as_bytes());
    });
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut counts = std::collections::BTreeMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            *counts
                .entry(v["outcome"].as_str().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
        }
        counts
    });
    let pid = child.id();
    let watcher = std::thread::spawn(move || peak_rss_kib(pid));
    let exit = child.wait().expect("lockdown exits").code().unwrap_or(-1);
    let wall = started.elapsed();
    let max_rss_kib = watcher.join().unwrap();
    feeder.join().unwrap();
    let outcomes = reader.join().unwrap();
    Outcome {
        wall,
        max_rss_kib,
        outcomes,
        exit,
    }
}

/// The child's peak RSS (`VmHWM`), read until it exits. `VmHWM` starts afresh at `exec`,
/// unlike `ru_maxrss`, which would also count the pages the child shared with this process
/// (and its in-process emulator) between `fork` and `exec`.
fn peak_rss_kib(pid: u32) -> i64 {
    let path = format!("/proc/{pid}/status");
    let mut peak = 0;
    while let Ok(status) = std::fs::read_to_string(&path) {
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            peak = peak.max(kib);
        }
        // A zombie has no memory left to report; stop there.
        if status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    peak
}

/// A fresh folder for the benchmark's evidence, removed at the end.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lockdown-bench-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

fn tenant(
    rt: &tokio::runtime::Runtime,
    users: usize,
    latency: Duration,
    throttling: bool,
    time_scale: f64,
) -> Emulator {
    rt.block_on(Emulator::start(EmulatorConfig {
        seed: Seed::Bulk {
            users,
            devices_per_user: 2,
        },
        latency,
        throttling,
        time_scale,
        ..EmulatorConfig::default()
    }))
    .expect("emulator starts")
}

/// Run `lockdown block` while a thread watches the tenant: how long until every one of `users`
/// was disabled (time to containment), as the tenant itself shows it.
fn run_contained(
    emu: &Emulator,
    users: &[String],
    time_scale: f64,
    extra: &[&str],
) -> (Outcome, Option<Duration>) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let emu = emu.clone();
        let done = done.clone();
        let wanted: std::collections::HashSet<String> = users.iter().cloned().collect();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let disabled = emu
                    .users()
                    .iter()
                    .filter(|u| wanted.contains(&u.user_principal_name) && !u.account_enabled)
                    .count();
                if disabled == wanted.len() {
                    return Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        })
    };
    let outcome = run_with(emu, users, time_scale, extra);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (outcome, watcher.join().unwrap())
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("user{i:05}@contoso.com")).collect()
}

/// The shortest a run can take under the enforced limits, in emulated seconds: each bucket
/// starts full, then refills at its rate. Only the requests lockdown cannot do without count:
/// per user a read, the device list, three user writes, one write per device and a re-read.
fn floor_secs(users: usize, devices: usize, tenant_users: usize) -> (f64, &'static str) {
    let n = users as f64;
    let d = devices as f64;
    let writes = n * (3.0 + d);
    let device_writes = n * d;
    let ru = n * (3.0 + 3.0 + d);
    let ru_limit = ru_limit_for_tenant(tenant_users);
    let over = |need: f64, cap: f64, window: f64| (need - cap).max(0.0) / (cap / window);
    [
        (
            over(writes, APP_WRITE_LIMIT, APP_WRITE_WINDOW_SECS),
            "app writes",
        ),
        (
            over(writes, TENANT_WRITE_LIMIT, TENANT_WRITE_WINDOW_SECS),
            "tenant writes",
        ),
        (
            over(device_writes, DEVICE_WRITE_LIMIT, DEVICE_WRITE_WINDOW_SECS),
            "device writes",
        ),
        (over(ru, ru_limit, RU_WINDOW_SECS), "resource units"),
    ]
    .into_iter()
    .fold((0.0, "none"), |a, b| if b.0 > a.0 { b } else { a })
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    println!(
        "lockdown bulk benchmark (emulated tenant, {} ms latency per request)\n",
        LATENCY.as_millis()
    );

    // 1. One user, two devices.
    let emu = tenant(&rt, 1, LATENCY, false, 1.0);
    let one = run(&emu, &names(1), 1.0);
    let calls = emu.requests().iter().filter(|r| !r.in_batch).count();
    println!("single user, 2 devices");
    println!("  wall time            {:>8.3} s", one.wall.as_secs_f64());
    println!(
        "  round trips          {calls:>8}   (HTTP calls, all sequential; includes the /me check)"
    );
    println!(
        "  outcomes             {:?} (exit {})\n",
        one.outcomes, one.exit
    );
    emu.shutdown();

    // 2. A thousand users at Graph's limits.
    let n = 1_000;
    let emu = tenant(&rt, n, LATENCY, true, TIME_SCALE);
    let bulk = run(&emu, &names(n), TIME_SCALE);
    let requests = emu.requests();
    let calls = requests.iter().filter(|r| !r.in_batch).count();
    let operations = requests
        .iter()
        .filter(|r| r.in_batch || !r.path.ends_with("$batch"))
        .count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let (floor, bound) = floor_secs(n, 2, n + 1);
    let floor_real = floor / TIME_SCALE;
    let failed = n - bulk.outcomes.get("locked").copied().unwrap_or(0);
    println!(
        "{n} users, 2 devices each, limits enforced (1 real second = {TIME_SCALE} Graph seconds)"
    );
    println!(
        "  wall time            {:>8.2} s   ({:.0} Graph seconds)",
        bulk.wall.as_secs_f64(),
        bulk.wall.as_secs_f64() * TIME_SCALE
    );
    println!(
        "  users per second     {:>8.1}     ({:.1} per Graph second)",
        n as f64 / bulk.wall.as_secs_f64(),
        n as f64 / bulk.wall.as_secs_f64() / TIME_SCALE
    );
    println!("  HTTP calls           {calls:>8}");
    println!(
        "  Graph operations     {operations:>8}   ({:.1} per call)",
        operations as f64 / calls as f64
    );
    println!(
        "  429 answers          {throttled:>8}   ({:.2} % of operations)",
        100.0 * throttled as f64 / operations as f64
    );
    println!(
        "  floor                {floor_real:>8.2} s   ({floor:.0} Graph seconds, bound by {bound})"
    );
    println!(
        "  wall / floor         {:>8.3}",
        bulk.wall.as_secs_f64() / floor_real
    );
    println!(
        "  users not locked     {failed:>8}   outcomes {:?} (exit {})",
        bulk.outcomes, bulk.exit
    );
    println!(
        "  peak RSS             {:>8.1} MiB\n",
        bulk.max_rss_kib as f64 / 1024.0
    );
    emu.shutdown();

    // 3. --incident for one user: Nestor (Contoso) has 2 devices, 3 methods (his default, the
    // phone, is refused until the others are gone), 2 rules and 1 consent.
    let emu = rt
        .block_on(Emulator::start(EmulatorConfig {
            latency: LATENCY,
            ..EmulatorConfig::default()
        }))
        .expect("emulator starts");
    let one = run_with(
        &emu,
        &["nestor@contoso.com".to_owned()],
        1.0,
        &["--incident"],
    );
    let calls = emu.requests().iter().filter(|r| !r.in_batch).count();
    println!("--incident, single user (2 devices, 3 methods, 2 rules, 1 consent)");
    println!("  wall time            {:>8.3} s", one.wall.as_secs_f64());
    println!(
        "  round trips          {calls:>8}   (HTTP calls, all sequential; the default method's retry included)"
    );
    println!(
        "  outcomes             {:?} (exit {})\n",
        one.outcomes, one.exit
    );
    emu.shutdown();

    // 4. --incident for a hundred users at Graph's limits. Each lists its authentication
    // methods (the identity and access reports limit, 5 requests per 10 s, is what binds);
    // confirmCompromised goes out a request a second for all users gathered meanwhile.
    let n = 100;
    let emu = tenant(&rt, n, LATENCY, true, TIME_SCALE);
    let incident = run_with(&emu, &names(n), TIME_SCALE, &["--incident"]);
    let requests = emu.requests();
    let calls = requests.iter().filter(|r| !r.in_batch).count();
    let operations = requests
        .iter()
        .filter(|r| r.in_batch || !r.path.ends_with("$batch"))
        .count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let confirms = requests
        .iter()
        .filter(|r| r.path.ends_with("/confirmCompromised"))
        .count();
    let over = |need: f64, cap: f64, window: f64| (need - cap).max(0.0) / (cap / window);
    let reports = requests
        .iter()
        .filter(|r| r.path.contains("/authentication/"))
        .count() as f64;
    let (identity, identity_bound) = floor_secs(n, 2, n + 1);
    let (floor, bound) = [
        (identity, identity_bound),
        (
            over(reports, REPORTS_LIMIT, REPORTS_WINDOW_SECS),
            "identity and access reports",
        ),
        // At least one confirmCompromised, and never two within a second.
        (
            (confirms as f64 - 1.0).max(0.0) / IDENTITY_PROTECTION_PER_SEC,
            "identity protection",
        ),
    ]
    .into_iter()
    .fold((0.0, "none"), |a, b| if b.0 > a.0 { b } else { a });
    let floor_real = floor / TIME_SCALE;
    println!("--incident, {n} users at the limits (1 real second = {TIME_SCALE} Graph seconds)");
    println!(
        "  wall time            {:>8.2} s   ({:.0} Graph seconds)",
        incident.wall.as_secs_f64(),
        incident.wall.as_secs_f64() * TIME_SCALE
    );
    println!("  HTTP calls           {calls:>8}   ({operations} Graph operations)");
    println!(
        "  authentication-method requests {reports:>4}   confirmCompromised requests {confirms}"
    );
    println!("  429 answers          {throttled:>8}");
    println!(
        "  floor                {floor_real:>8.2} s   ({floor:.0} Graph seconds, bound by {bound})"
    );
    println!(
        "  wall / floor         {:>8.3}",
        incident.wall.as_secs_f64() / floor_real
    );
    println!(
        "  outcomes             {:?} (exit {})\n",
        incident.outcomes, incident.exit
    );
    emu.shutdown();

    // 5. Time to containment with evidence: the logs are read after each user's lockdown,
    // outside the concurrency window, so every user is disabled as soon as without them.
    let evidence = tempfile_dir();
    println!("time to containment, {n} users with --incident (1 real second = {TIME_SCALE} Graph seconds)");
    for (label, extra) in [
        ("without evidence", vec!["--incident"]),
        (
            "with --evidence",
            vec!["--incident", "--evidence", evidence.to_str().unwrap()],
        ),
    ] {
        let emu = tenant(&rt, n, LATENCY, true, TIME_SCALE);
        let (r, contained) = run_contained(&emu, &names(n), TIME_SCALE, &extra);
        println!(
            "  {label:<20} contained after {:>7} s   (run {:.2} s, {:?})",
            contained
                .map(|d| format!("{:.2}", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into()),
            r.wall.as_secs_f64(),
            r.outcomes
        );
        emu.shutdown();
    }
    let _ = std::fs::remove_dir_all(&evidence);
    println!();

    // 6. Memory stays flat with the number of users. No latency, and a fast clock so that the
    // client's pacing (which mirrors Graph's limits) does not stretch the run for nothing.
    println!("peak memory of lockdown (no latency, limits enforced on a 1000x clock)");
    for n in [1_000, 10_000] {
        let emu = tenant(&rt, n, Duration::ZERO, true, 1_000.0);
        let r = run(&emu, &names(n), 1_000.0);
        println!(
            "  {n:>6} users         {:>8.1} MiB   ({:.1} s, {} locked)",
            r.max_rss_kib as f64 / 1024.0,
            r.wall.as_secs_f64(),
            r.outcomes.get("locked").copied().unwrap_or(0)
        );
        emu.shutdown();
    }
}
