//! `lockdown watch` and `block --watch`: sign-ins after the lockdown, as they reach the logs.
//! The tests' clock runs 50 times faster (`LOCKDOWN_TIME_SCALE`), so `--for 60s` lasts about a
//! second and `--interval 2` polls every 40 ms.

use std::time::Duration;

use lockdown_emulator::{EmulatorConfig, EntraIdPlan, SignInSpec};
use serde_json::Value;

use crate::support::Tenant;

/// Lock `upn` with a report file; the report's path.
fn lock_with_report(t: &Tenant, upn: &str) -> tempfile::TempPath {
    let report = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", upn, "--report"])
        .arg_path(&report)
        .run();
    run.assert_code(0);
    report
}

fn sign_ins(run: &crate::support::Run) -> Vec<Value> {
    run.lines()
}

#[test]
fn a_sign_in_after_the_lockdown_is_an_alert() {
    let t = Tenant::start();
    let report = lock_with_report(&t, "adele@contoso.com");
    let running = t
        .lockdown()
        .args([
            "watch",
            "-o",
            "json",
            "--for",
            "60s",
            "--interval",
            "2",
            "--from-report",
        ])
        .arg_path(&report)
        .spawn();
    std::thread::sleep(Duration::from_millis(300));
    // Someone still holding an access token issued before the revoke.
    let id = t.emu.add_sign_in(SignInSpec::success("adele@contoso.com"));
    // And someone else, who is not watched.
    t.emu.add_sign_in(SignInSpec::success("alex@contoso.com"));
    let run = running.wait();
    run.assert_code(1);
    let lines = sign_ins(&run);
    assert_eq!(
        lines.len(),
        1,
        "each sign-in once, only the watched user's: {run:?}"
    );
    let s = &lines[0];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["alert"], true);
    assert_eq!(s["result"], "success");
    assert_eq!(s["userPrincipalName"], "adele@contoso.com");
    assert_eq!(s["appDisplayName"], "Office 365 Exchange Online");
    assert_eq!(s["ipAddress"], "102.89.34.17");
    assert_eq!(s["location"], "Lagos, Lagos, NG");
    assert_eq!(s["clientAppUsed"], "Browser");
    assert_eq!(s["isInteractive"], true);
    assert!(run.stderr.contains("1 alert(s)"), "{}", run.stderr);
    // It filtered on the user and the revoke time, and asked for several polls.
    let polls: Vec<_> = t
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/auditLogs/signIns"))
        .collect();
    assert!(polls.len() >= 2, "{}", polls.len());
    let filter = lockdown_emulator_decode(&polls[0].query);
    assert!(
        filter.contains(&format!(
            "userId eq '{}'",
            lockdown_emulator::contoso_ids::ADELE
        )) && filter.contains("createdDateTime ge "),
        "{filter}"
    );
    assert!(polls.iter().all(|r| r.method == "GET"));
}

fn lockdown_emulator_decode(query: &str) -> String {
    percent_encoding::percent_decode_str(query)
        .decode_utf8_lossy()
        .into_owned()
}

#[test]
fn no_sign_in_after_the_lockdown_exits_0() {
    let t = Tenant::start();
    let report = lock_with_report(&t, "adele@contoso.com");
    let running = t
        .lockdown()
        .args(["watch", "--for", "30s", "--interval", "2", "--from-report"])
        .arg_path(&report)
        .spawn();
    std::thread::sleep(Duration::from_millis(150));
    // A failed attempt is shown, but is no alert.
    t.emu.add_sign_in(SignInSpec::failure(
        "adele@contoso.com",
        50057,
        "The user account is disabled.",
    ));
    let run = running.wait();
    run.assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert!(
        run.stdout
            .contains("failure 50057: The user account is disabled."),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("ALERT"));
    assert!(run.stderr.contains("0 alert(s)"), "{}", run.stderr);
}

#[test]
fn users_by_name_since_a_time_through_every_page() {
    let t = Tenant::with(EmulatorConfig {
        max_page_size: 1,
        ..EmulatorConfig::default()
    });
    // Adele's seeded sign-ins (26 hours ago; four failures and a success 23 hours ago; 3 hours
    // ago) and Grady's failure (2 hours ago).
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let since = since
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let run = t
        .lockdown()
        .args([
            "watch",
            "-o",
            "json",
            "adele@contoso.com",
            "grady@contoso.com",
            "--since",
            &since,
            "--for",
            "5s",
        ])
        .run();
    run.assert_code(1);
    let lines = sign_ins(&run);
    assert_eq!(lines.len(), 8, "{run:?}");
    // Printed oldest first; Adele's successes after --since are alerts, Grady's failure is not.
    let times: Vec<&str> = lines
        .iter()
        .map(|l| l["createdDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let grady = lines
        .iter()
        .find(|l| l["userPrincipalName"] == "grady@contoso.com")
        .unwrap();
    assert_eq!(grady["alert"], false);
    assert_eq!(grady["errorCode"], 50126);
    // Both users in one request, followed through every page.
    let first = t
        .emu
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/auditLogs/signIns"))
        .unwrap();
    let filter = lockdown_emulator_decode(&first.query);
    assert!(filter.contains(" or userId eq "), "{filter}");
    assert!(t
        .emu
        .requests()
        .iter()
        .any(|r| r.query.contains("skiptoken")));
}

#[test]
fn without_entra_id_p1_it_says_which_licence() {
    let t = Tenant::with(EmulatorConfig {
        entra_id: EntraIdPlan::Free,
        ..EmulatorConfig::default()
    });
    let run = t
        .lockdown()
        .args(["watch", "adele@contoso.com", "--for", "60s"])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Microsoft Entra ID P1 or P2"));
    assert!(run.stderr.contains("AuditLog.Read.All"));
    assert!(run.stdout.is_empty());
}

#[test]
fn block_watch_watches_the_users_it_locked() {
    let t = Tenant::start();
    let running = t
        .lockdown()
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--watch",
            "90s",
            "adele@contoso.com",
            "nobody@contoso.com",
        ])
        .spawn();
    // Once Adele is locked, a sign-in of hers reaches the logs.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while t.user("adele@contoso.com").account_enabled {
        assert!(
            std::time::Instant::now() < deadline,
            "adele was never locked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    t.emu.add_sign_in(SignInSpec::success("adele@contoso.com"));
    let run = running.wait();
    run.assert_code(1);
    let lines = run.lines();
    let locked = lines
        .iter()
        .find(|l| l["target"] == "adele@contoso.com")
        .unwrap();
    assert_eq!(locked["outcome"], "locked");
    let alerts: Vec<&Value> = lines.iter().filter(|l| l["alert"] == true).collect();
    assert_eq!(alerts.len(), 1, "{run:?}");
    assert_eq!(alerts[0]["userPrincipalName"], "adele@contoso.com");
    assert!(run.stderr.contains("1 alert(s)"), "{}", run.stderr);
    // Only the locked user is watched.
    let polls: Vec<String> = t
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/auditLogs/signIns"))
        .map(|r| lockdown_emulator_decode(&r.query))
        .collect();
    assert!(!polls.is_empty());
    assert!(polls.iter().all(|f| f.matches("userId eq").count() == 1));
}

#[test]
fn ctrl_c_exits_130_with_the_summary_so_far() {
    let t = Tenant::start();
    let running = t
        .lockdown()
        .args([
            "watch",
            "adele@contoso.com",
            "--for",
            "1h",
            "--interval",
            "5",
        ])
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    running.interrupt();
    let run = running.wait();
    run.assert_code(130);
    assert!(run.stderr.contains("watch: 1 user(s)"), "{}", run.stderr);
}

#[test]
fn durations_and_times_are_checked() {
    let t = Tenant::start();
    for args in [
        vec!["watch", "adele@contoso.com", "--for", "15x"],
        vec!["watch", "adele@contoso.com", "--since", "yesterday"],
        vec!["watch"],
        vec![
            "block",
            "--yes",
            "--dry-run",
            "--watch",
            "1m",
            "adele@contoso.com",
        ],
    ] {
        let run = t.lockdown().args(&args).run();
        run.assert_code(2);
    }
    assert!(t.emu.requests().is_empty());
}
