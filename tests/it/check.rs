//! `lockdown check` and `block --preflight`: which steps are expected to fail, and why, before
//! anything is written.

use lockdown_emulator::{EntraIdPlan, TokenKind, TokenSpec};
use serde_json::Value;

use crate::support::Tenant;

/// An app-only token with these permissions, the app holding User Administrator.
fn app_token(t: &Tenant, perms: &[&str]) -> String {
    t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: perms.iter().map(|s| s.to_string()).collect(),
        directory_roles: vec!["User Administrator".into()],
    })
}

/// What a responder app usually holds, without User.RevokeSessions.All.
const NO_REVOKE: &[&str] = &[
    "User.Read.All",
    "User.EnableDisableAccount.All",
    "User-PasswordProfile.ReadWrite.All",
    "Directory.Read.All",
    "Application.Read.All",
    "Organization.Read.All",
];

fn step<'a>(line: &'a Value, name: &str) -> &'a Value {
    line["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {line}"))
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {line}"))
}

fn target<'a>(lines: &'a [Value], upn: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["target"] == upn)
        .unwrap_or_else(|| panic!("no line for {upn}: {lines:#?}"))
}

/// Text with every run of whitespace as one space, to match columns.
fn words(text: &str) -> String {
    format!(
        " {} ",
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

fn only_reads(t: &Tenant) {
    let requests = t.emu.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "check sends nothing but GETs: {:?}",
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
}

#[test]
fn predicts_the_synced_users_failure_and_a_missing_permission() {
    let t = Tenant::start();
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &app_token(&t, NO_REVOKE))
        .args([
            "check",
            "-o",
            "json",
            "--skip",
            "devices",
            "adele@contoso.com",
            "grady@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{run:?}");

    // The caller: revoking is expected to fail for everyone, and says why.
    let caller = &lines[0]["caller"];
    let revoke = step(caller, "revoke_sessions");
    assert_eq!(revoke["status"], "missing", "{caller:#}");
    assert_eq!(revoke["permission"], "User.RevokeSessions.All");
    let reason = revoke["reason"].as_str().unwrap();
    assert!(
        reason.contains("User.RevokeSessions.All") && reason.contains("role assignments"),
        "{reason}"
    );
    assert_eq!(step(caller, "disable_account")["status"], "ok");

    // The synced user: disable and reset are not sent (Graph refuses them), and nothing
    // blocks its cloud sign-in in a tenant without the block group.
    let grady = target(&lines, "grady@contoso.com");
    assert_eq!(grady["outcome"], "will_fail");
    assert_eq!(grady["onPremisesSyncEnabled"], true);
    for s in ["disable_account", "reset_password"] {
        assert_eq!(step(grady, s)["status"], "ok", "{s}: {grady:#}");
        assert!(
            step(grady, s)["reason"]
                .as_str()
                .unwrap()
                .contains("synced from on-premises"),
            "{s}: {grady:#}"
        );
    }
    let block = step(grady, "block_sign_in");
    assert_eq!(block["status"], "missing", "{grady:#}");
    assert!(block["reason"].as_str().unwrap().contains("lockdown setup"));
    assert_eq!(step(grady, "revoke_sessions")["status"], "missing");
    let adele = target(&lines, "adele@contoso.com");
    assert_eq!(adele["outcome"], "will_fail");
    assert_eq!(step(adele, "disable_account")["status"], "ok");
    assert_eq!(step(adele, "revoke_sessions")["status"], "missing");
    assert!(adele["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["step"] != "disable_devices"));

    // Nothing was written, and the prediction was right: a real run fails exactly there.
    only_reads(&t);
    assert!(t.user("grady@contoso.com").account_enabled);
    assert!(
        run.stderr.contains("2 user(s): 0 ok, 2 will fail"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_lines_start_with_the_caller() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args([
            "check",
            "-o",
            "json",
            "adele@contoso.com",
            "isaiah@contoso.com",
        ])
        .run();
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), 3);
    let caller = &lines[0]["caller"];
    assert_eq!(lines[0].as_object().unwrap().len(), 1, "only `caller`");
    assert_eq!(caller["tokenKind"], "delegated");
    assert_eq!(caller["tenantId"], lockdown_emulator::TENANT_ID);
    assert_eq!(caller["appId"], lockdown_emulator::APP_ID);
    assert_eq!(caller["user"]["userPrincipalName"], "admin@contoso.com");
    assert!(caller["tokenPermissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "User.RevokeSessions.All"));
    assert_eq!(
        caller["directoryRoles"],
        serde_json::json!(["Global Administrator"])
    );
    assert_eq!(caller["licences"]["AAD_PREMIUM"], true);
    assert_eq!(caller["watch"]["status"], "ok");
    for l in &lines[1..] {
        assert_eq!(l["outcome"], "ok", "{l:#}");
        assert_eq!(l["exists"], true);
        for s in l["steps"].as_array().unwrap() {
            let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            for k in ["step", "permission", "status"] {
                assert!(keys.contains(&k), "{s}");
            }
            assert!(
                keys.iter().all(
                    |k| ["step", "permission", "role", "licence", "status", "reason"].contains(k)
                ),
                "{s}"
            );
            assert_eq!(s["status"], "ok", "{s}");
        }
    }
    // The admin target: the Global Administrator may act on it.
    let isaiah = target(&lines, "isaiah@contoso.com");
    assert_eq!(
        isaiah["adminRoles"],
        serde_json::json!(["User Administrator"])
    );
    only_reads(&t);
}

#[test]
fn text_says_what_is_expected_to_fail_and_the_caller_alone_can_be_checked() {
    let t = Tenant::start();
    let run = t.lockdown().args(["check"]).run();
    run.assert_code(0);
    assert!(
        run.stdout
            .starts_with("caller: delegated token, signed in as admin@contoso.com"),
        "{}",
        run.stdout
    );
    assert!(words(&run.stdout).contains(" disable_account ok "));
    let run = t
        .lockdown()
        .args(["check", "grady@contoso.com", "nobody@contoso.com"])
        .run();
    run.assert_code(1);
    assert!(run
        .stdout
        .contains("Grady Archie <grady@contoso.com>: will_fail"));
    assert!(run.stdout.contains("synced from on-premises: yes"));
    assert!(run.stdout.contains("nobody@contoso.com: not_found"));
}

#[test]
fn a_privileged_target_needs_privileged_authentication_administrator() {
    let t = Tenant::start();
    // Isaiah holds User Administrator: enough for ordinary users, not for admins.
    let user_admin = t.emu.issue_token(TokenSpec {
        kind: TokenKind::Delegated {
            upn: "isaiah@contoso.com".into(),
        },
        permissions: vec![
            "User.Read".into(),
            "User.ReadWrite.All".into(),
            "RoleManagement.Read.Directory".into(),
        ],
        directory_roles: Vec::new(),
    });
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &user_admin)
        .args([
            "check",
            "-o",
            "json",
            "--skip",
            "devices",
            "breakglass@contoso.com",
            "alex@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(
        lines[0]["caller"]["directoryRoles"],
        serde_json::json!(["User Administrator"])
    );
    let breakglass = target(&lines, "breakglass@contoso.com");
    assert_eq!(
        breakglass["adminRoles"],
        serde_json::json!(["Global Administrator"])
    );
    for s in ["disable_account", "revoke_sessions", "reset_password"] {
        let v = step(breakglass, s);
        assert_eq!(v["status"], "missing", "{v}");
        assert!(v["reason"]
            .as_str()
            .unwrap()
            .contains("Privileged Authentication Administrator"));
    }
    assert_eq!(target(&lines, "alex@contoso.com")["outcome"], "ok");
    // The prediction holds: a real run is refused on the admin target.
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &user_admin)
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--skip",
            "devices",
            "breakglass@contoso.com",
        ])
        .run();
    let u = run.one();
    assert_eq!(crate::support::status_of(&u, "disable_account"), "failed");
    assert!(t.user("breakglass@contoso.com").account_enabled);
}

#[test]
fn the_apps_role_assignments_win_over_its_token() {
    let t = Tenant::start();
    let mut perms = NO_REVOKE.to_vec();
    perms.push("User.RevokeSessions.All");
    let token = app_token(&t, &perms);
    // Consent to revoking sessions withdrawn after the token was issued.
    t.emu.set_app_permissions(NO_REVOKE);
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["check", "-o", "json", "--skip", "devices"])
        .run();
    run.assert_code(1);
    let caller = &run.lines()[0]["caller"];
    assert_eq!(step(caller, "revoke_sessions")["status"], "missing");
    let notes = caller["notes"].to_string();
    assert!(
        notes.contains("the token says User.RevokeSessions.All but the app's role assignments no longer include it"),
        "{notes}"
    );

    // Without Application.Read.All the assignments cannot be read: the token's claims judge.
    let blind: Vec<&str> = perms
        .iter()
        .copied()
        .filter(|p| *p != "Application.Read.All" && *p != "Directory.Read.All")
        .collect();
    let token = app_token(&t, &blind);
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["check", "-o", "json", "--skip", "devices"])
        .run();
    run.assert_code(0);
    let caller = &run.lines()[0]["caller"];
    assert_eq!(caller["appRoleAssignmentsError"]["status"], 403);
    assert!(caller["appRoleAssignmentsError"]["hint"]
        .as_str()
        .unwrap()
        .contains("Application.Read.All"));
    assert_eq!(step(caller, "revoke_sessions")["status"], "ok");
}

#[test]
fn licences_the_watch_needs() {
    let t = Tenant::start();
    t.emu.set_entra_id(EntraIdPlan::Free);
    let run = t.lockdown().args(["check", "-o", "json"]).run();
    // Watching is not a step of the lockdown: its verdict does not change the exit status.
    run.assert_code(0);
    let caller = &run.lines()[0]["caller"];
    assert_eq!(caller["licences"]["AAD_PREMIUM"], false);
    assert_eq!(caller["watch"]["status"], "missing");
    assert!(caller["watch"]["reason"]
        .as_str()
        .unwrap()
        .contains("AAD_PREMIUM"));
    // Licences that cannot be read make the verdict unknown, not wrong.
    let token = app_token(&t, &["User.Read.All", "AuditLog.Read.All"]);
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args([
            "check",
            "-o",
            "json",
            "--skip",
            "devices,password,sessions,account",
        ])
        .run();
    let caller = &run.lines()[0]["caller"];
    assert_eq!(caller["licencesError"]["status"], 403);
    assert_eq!(caller["watch"]["status"], "unknown");
}

#[test]
fn preflight_stops_block_before_any_write() {
    let t = Tenant::start();
    let run = t.block_json(&["--preflight", "adele@contoso.com", "grady@contoso.com"]);
    run.assert_code(1);
    // The same lines as `check`: the caller first, then each target.
    let lines = run.lines();
    assert!(lines[0]["caller"].is_object(), "{run:?}");
    assert_eq!(target(&lines, "grady@contoso.com")["outcome"], "will_fail");
    assert_eq!(target(&lines, "adele@contoso.com")["outcome"], "ok");
    assert!(t.writes().is_empty(), "nothing written: {:?}", t.writes());
    assert!(t.user("adele@contoso.com").account_enabled);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);

    // A missing permission stops it too.
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &app_token(&t, NO_REVOKE))
        .args([
            "block",
            "--yes",
            "--preflight",
            "--skip",
            "devices",
            "adele@contoso.com",
        ])
        .run();
    run.assert_code(1);
    assert!(
        words(&run.stdout).contains(" revoke_sessions missing "),
        "{}",
        run.stdout
    );
    assert!(t.writes().is_empty());
}

#[test]
fn preflight_that_passes_runs_the_lockdown() {
    let t = Tenant::start();
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        list.path(),
        "adele@contoso.com\nnot a user\nalex@contoso.com\n",
    )
    .unwrap();
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--preflight", "--from"])
        .arg_path(list.path())
        .run();
    // The malformed line fails the preflight too; with --force the others are locked.
    run.assert_code(1);
    assert!(t.writes().is_empty());
    std::fs::write(list.path(), "adele@contoso.com\nalex@contoso.com\n").unwrap();
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--preflight", "--from"])
        .arg_path(list.path())
        .run();
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "only block's own lines on stdout: {run:?}");
    assert!(lines.iter().all(|l| l["outcome"] == "locked"));
    assert!(run.stderr.contains("preflight"), "{}", run.stderr);
    assert!(!t.user("alex@contoso.com").account_enabled);

    // --force goes on despite a predicted failure.
    let run = t.block_json(&["--preflight", "--force", "grady@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial");
    assert!(run.stderr.contains("going on because of --force"));
}

#[test]
fn no_token_reaches_the_output_at_trace_level() {
    let t = Tenant::start();
    for token in [t.emu.admin_token(), t.emu.app_token()] {
        let run = t
            .bare()
            .env("LOCKDOWN_ACCESS_TOKEN", &token)
            .args(["-vv", "check", "-o", "json", "adele@contoso.com"])
            .run();
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        t.assert_nothing_secret(&format!("{}{}", run.stdout, run.stderr));
    }
}

#[test]
fn incident_steps_say_what_they_need_and_what_they_found() {
    let t = Tenant::start();
    // Entra ID P1 only: confirming a user compromised needs P2.
    t.emu.set_entra_id(EntraIdPlan::P1);
    let run = t
        .lockdown()
        .args([
            "check",
            "-o",
            "json",
            "--incident",
            "adele@contoso.com",
            "kiosk@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let lines = run.lines();
    let caller = &lines[0]["caller"];
    let confirm = step(caller, "confirm_compromised");
    assert_eq!(confirm["status"], "missing");
    assert_eq!(confirm["licence"], "AAD_PREMIUM_P2");
    assert!(confirm["reason"]
        .as_str()
        .unwrap()
        .contains("Microsoft Entra ID P2"));
    assert_eq!(
        caller["watch"]["status"], "ok",
        "P1 is enough for sign-in logs"
    );
    // What the incident steps read about each target.
    let adele = target(&lines, "adele@contoso.com");
    assert_eq!(adele["mailbox"], true);
    assert!(adele["authenticationMethods"].as_u64().unwrap() > 0);
    let kiosk = target(&lines, "kiosk@contoso.com");
    assert_eq!(kiosk["mailbox"], false);
    let rules = step(kiosk, "disable_inbox_rules");
    assert_eq!(rules["status"], "ok");
    assert!(rules["reason"]
        .as_str()
        .unwrap()
        .contains("no Exchange Online mailbox"));
    only_reads(&t);
}
