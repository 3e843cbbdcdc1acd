//! `--report FILE` and Ctrl-C: results as each user finishes, the state before and after, and
//! nothing secret.

use std::process::{Command, Stdio};
use std::time::Duration;

use lockdown_emulator::EmulatorConfig;

use crate::support::Tenant;

#[test]
fn report_file_has_before_and_after_and_no_secret() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.jsonl");
    let run = t
        .lockdown()
        .env("RUST_LOG", "trace")
        .args([
            "block",
            "--yes",
            "--report",
            path.to_str().unwrap(),
            "adele@contoso.com",
            "grady@contoso.com",
            "nobody@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let adele = lines
        .iter()
        .find(|l| l["target"] == "adele@contoso.com")
        .unwrap();
    assert_eq!(adele["before"]["accountEnabled"], true);
    assert_eq!(adele["after"]["accountEnabled"], false);
    assert_eq!(adele["before"]["devices"].as_array().unwrap().len(), 2);
    assert!(adele["after"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["accountEnabled"] == false));
    assert!(adele["before"]["signInSessionsValidFromDateTime"].is_string());
    let everything = format!("{text}{}{}", run.stdout, run.stderr);
    t.assert_nothing_secret(&everything);
    // A report replaces an old file rather than appending to it.
    let run = t
        .lockdown()
        .args([
            "block",
            "--yes",
            "--report",
            path.to_str().unwrap(),
            "diego@contoso.com",
        ])
        .run();
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn ctrl_c_reports_what_was_done_and_exits_130() {
    let t = Tenant::with(EmulatorConfig {
        latency: Duration::from_millis(150),
        ..EmulatorConfig::default()
    });
    let users: Vec<String> = (11..=40)
        .map(|i| format!("user{i:02}@contoso.com"))
        .collect();
    let child = Command::new(env!("CARGO_BIN_EXE_lockdown"))
        .env_clear()
        .env("LOCKDOWN_GRAPH_URL", t.emu.url())
        .env("LOCKDOWN_ACCESS_TOKEN", t.emu.admin_token())
        .args(["block", "--yes", "-o", "json", "--concurrency", "2"])
        .args(&users)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), users.len(), "every user is reported: {stdout}");
    let locked = lines.iter().filter(|l| l["outcome"] == "locked").count();
    let interrupted = lines
        .iter()
        .filter(|l| l["outcome"] == "interrupted")
        .count();
    // Users contained but not cleaned up when Ctrl-C came are `partial`, their unfinished
    // steps `interrupted`.
    let partial: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["outcome"] == "partial").collect();
    assert!(locked >= 1, "some users finished before Ctrl-C");
    assert!(interrupted >= 1, "some users were not reached");
    assert_eq!(
        locked + partial.len() + interrupted,
        users.len(),
        "{stdout}"
    );
    for l in &partial {
        assert!(l["contained_at"].is_string(), "{l}");
        assert!(l["reason"]
            .as_str()
            .unwrap()
            .contains("after this account was contained"));
    }
    // What the report says matches the tenant; the summary says how many were contained.
    for l in &lines {
        let upn = l["target"].as_str().unwrap();
        if l["outcome"] == "locked" || l["outcome"] == "partial" {
            assert!(!t.user(upn).account_enabled, "{upn}");
            assert!(l["contained_at"].is_string(), "{l}");
        } else {
            assert!(l["contained_at"].is_null(), "{l}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} contained", locked + partial.len())),
        "{stderr}"
    );
}
