//! Bulk lockdown against the emulated tenant: `cargo bench --bench bulk`.
//!
//! Runs the real release binary against the emulator with 50 ms of latency on every request
//! and Graph's identity-and-access limits enforced on a faster clock, and prints:
//! - one user with 2 devices: wall time and sequential round trips;
//! - 1,000 users with 2 devices each: wall time, users per second, requests, operations and
//!   429s, and the wall time over the floor the enforced limits imply; time to containment
//!   (p50, p90, max) over its own floor and the whole run's;
//! - `--incident` for one user (Nestor: 2 devices, 3 methods, 2 rules, 1 consent): round trips;
//! - `--incident` for 100 users at the limits and the real clock: time to containment (p50, p90,
//!   max: when each account's last containment write took effect), then the whole run's wall
//!   time over the floor the identity and access reports limit (authentication methods) and
//!   identity protection's 1 request a second imply;
//! - time to containment for 100 users with `--incident`, then with `--incident --evidence` (on
//!   a faster clock): the evidence must not move it;
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
use lockdown_emulator::{Emulator, EmulatorConfig, RequestRecord, Seed};

const LATENCY: Duration = Duration::from_millis(50);
/// Emulated seconds per real second for the throttled run.
const TIME_SCALE: f64 = 10.0;

struct Outcome {
    started: Instant,
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
        started,
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

/// Per user, when its account was contained, from the start of the run: when the last of its
/// containment writes (`PATCH /users/{id}`, `POST /users/{id}/revokeSignInSessions`) took
/// effect in the emulated tenant. Sorted.
fn containment_times(requests: &[RequestRecord], started: Instant) -> Vec<Duration> {
    let mut last: std::collections::HashMap<&str, Instant> = std::collections::HashMap::new();
    for r in requests {
        if !(200..300).contains(&r.status) {
            continue;
        }
        let Some(rest) = r.path.strip_prefix("/v1.0/users/") else {
            continue;
        };
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let contains = (r.method == "PATCH" && tail.is_empty())
            || (r.method == "POST" && tail == "revokeSignInSessions");
        if contains {
            let at = last.entry(id).or_insert(r.at);
            *at = (*at).max(r.at);
        }
    }
    let mut times: Vec<Duration> = last
        .values()
        .map(|at| at.saturating_duration_since(started))
        .collect();
    times.sort();
    times
}

/// `p50 0.41 s · p90 0.62 s · max 0.80 s` (of `n` users).
fn percentiles(times: &[Duration], n: usize) -> String {
    if times.is_empty() {
        return "no account contained".into();
    }
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    format!(
        "p50 {:.2} s · p90 {:.2} s · max {:.2} s   ({} of {n} users contained)",
        at(0.5).as_secs_f64(),
        at(0.9).as_secs_f64(),
        times.last().unwrap().as_secs_f64(),
        times.len()
    )
}

/// The shortest containment alone can take under the enforced limits, in emulated seconds: per
/// user the read, the roles and three writes.
fn floor_secs_contain(users: usize, tenant_users: usize) -> (f64, &'static str) {
    let n = users as f64;
    let over = |need: f64, cap: f64, window: f64| (need - cap).max(0.0) / (cap / window);
    [
        (
            over(n * 3.0, APP_WRITE_LIMIT, APP_WRITE_WINDOW_SECS),
            "app writes",
        ),
        (
            over(n * 6.0, ru_limit_for_tenant(tenant_users), RU_WINDOW_SECS),
            "resource units",
        ),
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
    // Containment alone: 3 writes a user, which Graph's write burst of 3,000 takes at once,
    // so what bounds it is latency: users are contained --concurrency (128 by default) at a time, and in a
    // bulk run (parallel batches, the next request of each user) each takes 4 round trips: the
    // read, then disable, revoke and reset in that order.
    let contained = containment_times(&requests, bulk.started);
    const DEFAULT_CONCURRENCY: usize = 128;
    let waves = n.div_ceil(DEFAULT_CONCURRENCY) as f64;
    let latency_floor = waves * 4.0 * LATENCY.as_secs_f64();
    let (contain_floor, _) = floor_secs_contain(n, n + 1);
    let contain_floor_real = (contain_floor / TIME_SCALE).max(latency_floor);
    println!("  time to containment  {}", percentiles(&contained, n));
    println!(
        "  containment floor    {contain_floor_real:>8.2} s   (the writes fit Graph's burst: {waves} waves of {DEFAULT_CONCURRENCY} users x 4 ordered round trips x {} ms)",
        LATENCY.as_millis()
    );
    if let Some(max) = contained.last() {
        println!(
            "  contained / floor    {:>8.3}     (last account contained / containment floor; / whole-run floor: {:.3})",
            max.as_secs_f64() / contain_floor_real,
            max.as_secs_f64() / floor_real
        );
    }
    println!(
        "  users not locked     {failed:>8}   outcomes {:?} (exit {})",
        bulk.outcomes, bulk.exit
    );
    println!(
        "  peak RSS             {:>8.1} MiB\n",
        bulk.max_rss_kib as f64 / 1024.0
    );
    emu.shutdown();

    // 2b. The same run with fewer and more users in containment at once: containment is
    // latency-bound (the writes fit Graph's burst), so --concurrency is the knob that sets it.
    for concurrency in [64, 256] {
        let emu = tenant(&rt, n, LATENCY, true, TIME_SCALE);
        let r = run_with(
            &emu,
            &names(n),
            TIME_SCALE,
            &["--concurrency", &concurrency.to_string()],
        );
        let contained = containment_times(&emu.requests(), r.started);
        println!(
            "{n} users, --concurrency {concurrency}: time to containment {}   (whole run {:.2} s, {} answers 429)",
            percentiles(&contained, n),
            r.wall.as_secs_f64(),
            emu.requests().iter().filter(|q| q.status == 429).count()
        );
        emu.shutdown();
    }
    println!();

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

    // 4. --incident for a hundred users at Graph's limits, at the real clock. Each lists its
    // authentication methods (the identity and access reports limit, 5 requests per 10 s, is
    // what binds the whole run); confirmCompromised goes out a request a second for all users
    // gathered meanwhile. Containment must not wait for any of it.
    let n = 100;
    let scale = 1.0;
    let emu = tenant(&rt, n, LATENCY, true, scale);
    let incident = run_with(&emu, &names(n), scale, &["--incident"]);
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
    let contained = containment_times(&requests, incident.started);
    println!("--incident, {n} users at the limits, real clock");
    println!("  time to containment  {}", percentiles(&contained, n));
    println!(
        "  wall time            {:>8.2} s   (the whole run, clean-up included)",
        incident.wall.as_secs_f64(),
    );
    println!("  HTTP calls           {calls:>8}   ({operations} Graph operations)");
    println!(
        "  authentication-method requests {reports:>4}   confirmCompromised requests {confirms}"
    );
    println!("  429 answers          {throttled:>8}");
    println!("  floor                {floor:>8.2} s   (the whole run, bound by {bound})");
    println!(
        "  wall / floor         {:>8.3}",
        incident.wall.as_secs_f64() / floor
    );
    println!(
        "  outcomes             {:?} (exit {})\n",
        incident.outcomes, incident.exit
    );
    emu.shutdown();

    // 5. Time to containment with evidence: the sign-in and audit logs are read after each
    // user's lockdown, at low priority, so every account is contained as soon as without them.
    let evidence = tempfile_dir();
    println!(
        "time to containment, {n} users with --incident (1 real second = {TIME_SCALE} Graph seconds)"
    );
    for (label, extra) in [
        ("without evidence", vec!["--incident"]),
        (
            "with --evidence",
            vec!["--incident", "--evidence", evidence.to_str().unwrap()],
        ),
    ] {
        let emu = tenant(&rt, n, LATENCY, true, TIME_SCALE);
        let r = run_with(&emu, &names(n), TIME_SCALE, &extra);
        let contained = containment_times(&emu.requests(), r.started);
        println!(
            "  {label:<18} {}   (whole run {:.2} s, {:?})",
            percentiles(&contained, n),
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
