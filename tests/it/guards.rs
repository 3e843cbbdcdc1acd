//! Guard rails: never lock the signed-in account or a protected one without --force; say when
//! a target holds an admin role.

use lockdown_emulator::{EmulatorConfig, FaultKind, FaultRule};

use crate::support::Tenant;

#[test]
fn refuses_to_lock_the_signed_in_account() {
    let t = Tenant::start();
    let run = t.block_json(&["ADMIN@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "refused");
    assert!(u["reason"].as_str().unwrap().contains("running lockdown"));
    assert!(t.writes().is_empty());
    // `/me` is asked once per run.
    let run = t.block_json(&["user05@contoso.com", "user06@contoso.com"]);
    run.assert_code(0);
    assert_eq!(
        t.emu
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/me"))
            .count(),
        2
    );
}

#[test]
fn protected_accounts_are_refused_by_upn_or_object_id() {
    let t = Tenant::start();
    let bg = t.user("breakglass@contoso.com").id;
    let run = t.block_json(&[
        "--protect",
        "BreakGlass@contoso.com",
        &bg,
        "user07@contoso.com",
    ]);
    run.assert_code(1);
    let lines = run.lines();
    let refused = lines.iter().find(|l| l["target"] == bg.as_str()).unwrap();
    assert_eq!(refused["outcome"], "refused");
    assert!(refused["reason"].as_str().unwrap().contains("protected"));
    assert!(lines
        .iter()
        .any(|l| l["target"] == "user07@contoso.com" && l["outcome"] == "locked"));
    assert!(t.user("breakglass@contoso.com").account_enabled);
    assert_eq!(t.user("breakglass@contoso.com").password_resets, 0);
}

#[test]
fn lockdown_protect_variable_and_force() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .env(
            "LOCKDOWN_PROTECT",
            "user08@contoso.com, breakglass@contoso.com",
        )
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "breakglass@contoso.com",
            "user08@contoso.com",
        ])
        .run();
    run.assert_code(1);
    assert!(run.lines().iter().all(|l| l["outcome"] == "refused"));
    assert!(t.writes().is_empty());
    let run = t
        .lockdown()
        .env("LOCKDOWN_PROTECT", "user08@contoso.com")
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--force",
            "user08@contoso.com",
        ])
        .run();
    run.assert_code(0);
    assert!(!t.user("user08@contoso.com").account_enabled);
}

#[test]
fn admin_role_is_announced_before_writing() {
    let t = Tenant::start();
    let run = t.block_json(&["isaiah@contoso.com"]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked");
    assert!(u["warnings"]
        .to_string()
        .contains("Privileged Authentication Administrator"));
}

#[test]
fn unreadable_roles_are_said_once_and_the_run_carries_on() {
    let t = Tenant::with(EmulatorConfig {
        faults: vec![FaultRule {
            path_contains: Some("memberOf".into()),
            ..FaultRule::always(FaultKind::ServiceUnavailable {
                retry_after_secs: None,
            })
        }],
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&[
        "--max-retries",
        "2",
        "user09@contoso.com",
        "user10@contoso.com",
    ]);
    run.assert_code(0);
    assert!(
        run.lines().iter().all(|l| l["outcome"] == "locked"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr
            .matches("cannot read targets' admin roles")
            .count(),
        1,
        "{}",
        run.stderr
    );
}

/// A guard that cannot tell who is signed in does not switch itself off: with `/me` failing,
/// every target is refused and nothing is written, unless `--force`.
#[test]
fn an_unreadable_signed_in_account_refuses_every_target() {
    let me_fails = || {
        Tenant::with(EmulatorConfig {
            faults: vec![FaultRule {
                method: Some("GET".into()),
                path_contains: Some("/v1.0/me".into()),
                ..FaultRule::always(FaultKind::GatewayTimeout)
            }],
            ..EmulatorConfig::default()
        })
    };
    let t = me_fails();
    let run = t.block_json(&[
        "adele@contoso.com",
        "alex@contoso.com",
        "--max-retries",
        "2",
    ]);
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    for u in &lines {
        assert_eq!(u["outcome"], "refused", "{u:#}");
        let reason = u["reason"].as_str().unwrap();
        assert!(
            reason.contains("signed-in account could not be read") && reason.contains("--force"),
            "{reason}"
        );
    }
    assert!(t.writes().is_empty(), "{:#?}", t.writes());

    let t = me_fails();
    let run = t.block_json(&["adele@contoso.com", "--max-retries", "2", "--force"]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
}

/// The report file is the receipt an undo depends on: when it cannot be written, no new user
/// starts, every result still reaches stdout, and the run exits 1 naming the report error.
#[test]
fn a_report_file_that_fails_mid_run_stops_new_users() {
    let t = Tenant::start();
    let run = t.block_json(&[
        "adele@contoso.com",
        "alex@contoso.com",
        "diego@contoso.com",
        "--concurrency",
        "1",
        "--report",
        "/dev/full",
    ]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("cannot write the report `/dev/full`"),
        "{}",
        run.stderr
    );
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "every user gets a line: {run:?}");
    assert_eq!(lines[0]["outcome"], "locked");
    assert!(!t.user("adele@contoso.com").account_enabled);
    // With --concurrency 1 the next user's containment may start once adele is contained,
    // before her line fails to reach the file: alex finishes (its result still on stdout) or
    // was never started. Diego, who could start only after alex's containment, never is.
    let alex = &lines[1];
    assert_eq!(alex["target"], "alex@contoso.com");
    match alex["outcome"].as_str().unwrap() {
        "locked" => assert!(!t.user("alex@contoso.com").account_enabled),
        "interrupted" => assert!(t.user("alex@contoso.com").account_enabled),
        other => panic!("alex: {other}: {alex:#}"),
    }
    let diego = &lines[2];
    assert_eq!(diego["outcome"], "interrupted", "{diego:#}");
    assert!(diego["reason"]
        .as_str()
        .unwrap()
        .contains("cannot write the report"));
    assert!(
        t.user("diego@contoso.com").account_enabled,
        "diego was never started"
    );
}
