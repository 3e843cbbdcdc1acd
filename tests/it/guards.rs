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
