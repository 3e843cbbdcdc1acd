//! `lockdown unblock`: undo a lockdown from its report, item by item, only where it is still as
//! lockdown left it and belongs to the user; a Temporary Access Pass shown once.

use serde_json::Value;

use crate::support::{status_of, step, Tenant};

/// Block `users` with a report file; returns the report's text.
fn block_with_report(t: &Tenant, users: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block.jsonl");
    t.lockdown()
        .args(["block", "--yes", "-o", "json", "--report"])
        .arg_path(&path)
        .args(users)
        .run()
        .assert_code(0);
    std::fs::read_to_string(&path).unwrap()
}

fn unblock(t: &Tenant, report: &str, extra: &[&str]) -> crate::support::Run {
    t.lockdown()
        .args(["unblock", "--yes", "-o", "json", "--from-report", "-"])
        .args(extra)
        .stdin(report)
        .run()
}

#[test]
fn block_then_unblock_restores_everything_undoable() {
    let t = Tenant::start();
    let users = [
        "adele@contoso.com",
        "alex@contoso.com",
        "johanna@contoso.com",
    ];
    let before: Vec<_> = users.iter().map(|u| t.user(u)).collect();
    let device_state = |t: &Tenant, u: &str| -> Vec<bool> {
        t.user(u)
            .device_ids
            .iter()
            .map(|d| t.emu.device(d).unwrap().account_enabled)
            .collect()
    };
    let devices_before: Vec<Vec<bool>> = users.iter().map(|u| device_state(&t, u)).collect();
    let report = block_with_report(&t, &users);
    assert!(!t.user("adele@contoso.com").account_enabled);

    let run = unblock(&t, &report, &[]);
    // johanna stays disabled, so her unblock is partial: exit 1.
    run.assert_code(1);
    let lines = run.lines();
    // johanna was already disabled: lockdown changed nothing of hers that can be undone, but
    // it did revoke her sessions, so she is listed with what cannot be undone.
    for line in &lines {
        let expected = if line["target"] == "johanna@contoso.com" {
            "partial"
        } else {
            "restored"
        };
        assert_eq!(line["outcome"], expected, "{line:#}");
        let not_undone: Vec<&str> = line["not_undone"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["step"].as_str().unwrap())
            .collect();
        assert!(not_undone.contains(&"revoke_sessions"), "{line:#}");
    }
    let adele = lines
        .iter()
        .find(|l| l["target"] == "adele@contoso.com")
        .unwrap();
    assert_eq!(status_of(adele, "enable_account"), "done");
    assert_eq!(status_of(adele, "enable_devices"), "done");
    assert_eq!(status_of(adele, "verify"), "done");
    let johanna = lines
        .iter()
        .find(|l| l["target"] == "johanna@contoso.com")
        .unwrap();
    // Her account is left disabled, and her line says so and why: no step of lockdown's to
    // undo, and the user still cannot sign in.
    let left = step(johanna, "enable_account");
    assert_eq!(left["status"], "skipped", "{johanna:#}");
    assert_eq!(
        left["detail"],
        "disabled before this lockdown: left disabled; `lockdown unblock johanna@contoso.com` enables it"
    );
    assert!(!t.user("johanna@contoso.com").account_enabled);

    // The tenant equals its state before the block for everything undoable.
    for (n, u) in users.iter().enumerate() {
        assert_eq!(t.user(u).account_enabled, before[n].account_enabled, "{u}");
        assert_eq!(device_state(&t, u), devices_before[n], "{u}'s devices");
    }
}

#[test]
fn a_temporary_access_pass_is_shown_once_and_nowhere_else() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com"]);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("unblock.jsonl");
    let run = t
        .lockdown()
        .args([
            "unblock",
            "--yes",
            "-o",
            "json",
            "-vv",
            "--tap=90",
            "--from-report",
            "-",
        ])
        .args(["--report", record.to_str().unwrap()])
        .stdin(&report)
        .run();
    run.assert_code(0);
    let u = run.one();
    let tap = t
        .emu
        .temporary_access_pass("adele@contoso.com")
        .expect("a pass was issued");
    assert!(tap.is_usable_once);
    assert_eq!(tap.lifetime_in_minutes, 90);
    let issued = step(&u, "issue_tap");
    assert_eq!(issued["status"], "done");
    assert_eq!(issued["temporaryAccessPass"], tap.pass.as_str());
    assert_eq!(issued["temporaryAccessPassId"], tap.id.as_str());
    assert!(issued["expiresDateTime"].is_string());
    assert!(!run.stderr.contains(&tap.pass), "the pass reached the logs");
    let file = std::fs::read_to_string(&record).unwrap();
    assert!(
        !file.contains(&tap.pass),
        "the pass reached the report file"
    );
    let line: Value = serde_json::from_str(file.trim()).unwrap();
    assert_eq!(
        step(&line, "issue_tap")["temporaryAccessPassId"],
        tap.id.as_str()
    );

    // Text: one line naming the user and the expiry.
    let t = Tenant::start();
    let report = block_with_report(&t, &["alex@contoso.com"]);
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "--tap", "--from-report", "-"])
        .stdin(&report)
        .run();
    run.assert_code(0);
    let tap = t.emu.temporary_access_pass("alex@contoso.com").unwrap();
    assert_eq!(tap.lifetime_in_minutes, 60, "the default lifetime is sent");
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(&tap.pass))
        .expect("the pass is on stdout");
    assert!(
        line.contains("alex@contoso.com") && line.contains("until"),
        "{line}"
    );
}

#[test]
fn a_refused_pass_fails_its_step_and_the_rest_stands() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com"]);
    t.emu.set_temporary_access_pass_policy(false);
    let run = unblock(&t, &report, &["--tap"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let tap = step(&u, "issue_tap");
    assert_eq!(tap["status"], "failed");
    assert!(
        tap["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("authentication methods policy"),
        "{tap:#}"
    );
    assert!(
        t.user("adele@contoso.com").account_enabled,
        "the account was still restored"
    );
}

#[test]
fn what_changed_since_the_lockdown_is_left_alone_unless_forced() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com"]);
    // A report that does not show lockdown leaving the account disabled (its disable "done",
    // but `after` says enabled): someone else may have disabled it since.
    let mut line: Value = serde_json::from_str(report.trim()).unwrap();
    line["after"]["accountEnabled"] = Value::Bool(true);
    let drifted = line.to_string();
    let run = unblock(&t, &drifted, &[]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let s = step(&u, "enable_account");
    assert_eq!(s["status"], "skipped");
    assert!(s["detail"]
        .as_str()
        .unwrap()
        .contains("changed since the lockdown"));
    assert!(!t.user("adele@contoso.com").account_enabled, "left alone");

    let run = unblock(&t, &drifted, &["--force"]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "restored");
    assert!(t.user("adele@contoso.com").account_enabled);
}

#[test]
fn a_report_naming_another_users_device_changes_nothing_for_it() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com", "alex@contoso.com"]);
    let alex_device = t.user("alex@contoso.com").device_ids[0].clone();
    assert!(!t.emu.device(&alex_device).unwrap().account_enabled);
    // Tamper with adele's line: claim lockdown disabled alex's device as hers.
    let adele_line = report
        .lines()
        .find(|l| l.contains("\"adele@contoso.com\""))
        .unwrap();
    let mut line: Value = serde_json::from_str(adele_line).unwrap();
    let devices = line["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["step"] == "disable_devices")
        .unwrap()["devices"]
        .as_array_mut()
        .unwrap();
    devices.push(serde_json::json!({"id": alex_device, "displayName": "ALEX-PC", "operatingSystem": "Windows", "status": "done"}));
    line["before"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": alex_device, "accountEnabled": true}));
    line["after"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": alex_device, "accountEnabled": false}));
    t.emu.clear_requests();
    let run = unblock(&t, &line.to_string(), &[]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let item = step(&u, "enable_devices")["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == alex_device.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["status"], "skipped");
    assert!(item["reason"]
        .as_str()
        .unwrap()
        .contains("not a device of this user"));
    assert!(
        !t.emu.device(&alex_device).unwrap().account_enabled,
        "alex's device untouched"
    );
    assert!(
        t.writes().iter().all(|w| !w.path.contains(&alex_device)),
        "{:#?}",
        t.writes()
    );
    // Adele's own devices were restored.
    for d in t.user("adele@contoso.com").device_ids {
        assert!(t.emu.device(&d).unwrap().account_enabled);
    }
}

#[test]
fn a_dry_run_sends_only_gets_and_a_user_without_a_report_gets_the_account_back() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com"]);
    t.emu.clear_requests();
    let run = t
        .lockdown()
        .args([
            "unblock",
            "--dry-run",
            "-o",
            "json",
            "--tap",
            "--from-report",
            "-",
        ])
        .stdin(&report)
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "planned", "{u:#}");
    assert_eq!(status_of(&u, "enable_account"), "planned");
    assert!(t.emu.requests().iter().all(|r| r.method == "GET"));
    assert!(t.emu.temporary_access_pass("adele@contoso.com").is_none());

    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "adele@contoso.com"])
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "restored", "{u:#}");
    assert!(u["warnings"][0]
        .as_str()
        .unwrap()
        .contains("only the account"));
    assert!(t.user("adele@contoso.com").account_enabled);
    // Its devices stay disabled: nothing says lockdown disabled them.
    for d in t.user("adele@contoso.com").device_ids {
        assert!(!t.emu.device(&d).unwrap().account_enabled);
    }
}

#[test]
fn a_report_line_that_is_not_a_report_is_named_and_the_rest_runs() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["adele@contoso.com"]);
    let input = format!("not json\n{report}");
    let run = unblock(&t, &input, &["--user", "adele@contoso.com"]);
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(lines
        .iter()
        .any(|l| l["outcome"] == "failed" && l["reason"].as_str().unwrap().starts_with("line 1:")));
    assert!(lines.iter().any(|l| l["outcome"] == "restored"));
    // A --user that is not in the report leaves nothing to do: exit 2.
    unblock(&t, &report, &["--user", "nobody@contoso.com"]).assert_code(2);
}

/// A device only Intune knows (no registered owner in Entra) is found through Intune on the way
/// back too: its ownership by the user's Intune devices, its state by its `deviceId`.
#[test]
fn devices_found_through_intune_only_are_restored_too() {
    let t = Tenant::start();
    let report = block_with_report(&t, &["lynne@contoso.com"]);
    let line: Value = serde_json::from_str(report.trim()).unwrap();
    let disabled: Vec<String> = step(&line, "disable_devices")["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "done")
        .map(|d| {
            d["id"]
                .as_str()
                .expect("the object id, looked up")
                .to_owned()
        })
        .collect();
    assert!(!disabled.is_empty(), "{line:#}");
    for id in &disabled {
        assert!(!t.emu.device(id).unwrap().account_enabled);
    }
    let run = unblock(&t, &report, &[]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "restored", "{u:#}");
    assert_eq!(status_of(&u, "enable_devices"), "done");
    assert_eq!(status_of(&u, "verify"), "done", "{u:#}");
    for id in &disabled {
        assert!(t.emu.device(id).unwrap().account_enabled, "{id} restored");
    }
}

/// After an `--incident` block: the rules lockdown disabled are turned back on and the risk it
/// confirmed is dismissed, with a warning before anything is written; removed methods and
/// revoked consents are listed as not undone.
#[test]
fn an_incident_is_undone_where_it_can_be_and_warned_about() {
    let t = Tenant::start();
    let rules_before = t.emu.inbox_rules("adele@contoso.com").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block.jsonl");
    t.lockdown()
        .args(["block", "--yes", "-o", "json", "--incident", "--report"])
        .arg_path(&path)
        .args(["adele@contoso.com"])
        .run();
    let report = std::fs::read_to_string(&path).unwrap();
    let line: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(status_of(&line, "confirm_compromised"), "done", "{line:#}");
    assert_eq!(status_of(&line, "disable_inbox_rules"), "done", "{line:#}");
    assert_eq!(
        t.emu.risky_user("adele@contoso.com").unwrap().risk_state,
        "confirmedCompromised"
    );

    let run = unblock(&t, &report, &[]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("confirmed compromised during the lockdown"),
        "{}",
        run.stderr
    );
    let u = run.one();
    assert_eq!(u["outcome"], "restored", "{u:#}");
    assert_eq!(status_of(&u, "enable_inbox_rules"), "done");
    assert_eq!(status_of(&u, "dismiss_risk"), "done");
    assert_ne!(
        t.emu.risky_user("adele@contoso.com").unwrap().risk_state,
        "confirmedCompromised"
    );
    let rules_after = t.emu.inbox_rules("adele@contoso.com").unwrap();
    for (b, a) in rules_before.iter().zip(&rules_after) {
        assert_eq!(
            b.is_enabled, a.is_enabled,
            "rule {} as before the block",
            b.display_name
        );
    }
    let not_undone: Vec<&str> = u["not_undone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["step"].as_str().unwrap())
        .collect();
    for step in [
        "revoke_sessions",
        "reset_password",
        "remove_auth_methods",
        "revoke_app_consents",
    ] {
        assert!(
            not_undone.contains(&step),
            "{step} missing from {not_undone:?}"
        );
    }
}
