//! `lockdown block`: every step, option, UPN form and error class.

use lockdown_emulator::{EmulatorConfig, TokenKind, TokenSpec};

use crate::support::{status_of, step, Tenant};

#[test]
fn locks_a_member_end_to_end() {
    let t = Tenant::start();
    let before = t.user("adele@contoso.com");
    assert!(before.account_enabled);
    let run = t.block_json(&["adele@contoso.com"]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["target"], "adele@contoso.com");
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(u["id"], before.id.as_str());
    assert_eq!(u["userPrincipalName"], "adele@contoso.com");
    for s in [
        "disable_account",
        "revoke_sessions",
        "reset_password",
        "disable_devices",
        "verify",
    ] {
        assert_eq!(status_of(&u, s), "done", "{s}: {u:#}");
    }
    let devices = step(&u, "disable_devices")["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().all(|d| d["status"] == "done"
        && d["id"].is_string()
        && d.get("displayName").is_some()
        && d.get("operatingSystem").is_some()));

    // The tenant really changed.
    let after = t.user("adele@contoso.com");
    assert!(!after.account_enabled);
    assert!(after.sign_in_sessions_valid_from > before.sign_in_sessions_valid_from);
    assert_eq!(after.password_resets, before.password_resets + 1);
    assert!(after.force_change_password_next_sign_in);
    let pw = after.password.clone().expect("a password was set");
    assert!(pw.len() >= 24 && pw.is_ascii());
    for id in &after.device_ids {
        assert!(
            !t.emu.device(id).unwrap().account_enabled,
            "device {id} still enabled"
        );
    }
    // Exactly the expected writes, in order: disable, revoke, password, then the devices.
    let writes = t.writes();
    let kinds: Vec<String> = writes
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(writes.len(), 5, "{kinds:#?}");
    let pos = |needle: &str| {
        kinds
            .iter()
            .position(|k| k.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in {kinds:#?}"))
    };
    let disable = kinds
        .iter()
        .position(|k| k.starts_with("PATCH") && k.contains("/users/"))
        .unwrap();
    let revoke = pos("revokeSignInSessions");
    let password = kinds
        .iter()
        .rposition(|k| k.starts_with("PATCH") && k.contains("/users/"))
        .unwrap();
    assert!(disable < revoke && revoke < password, "order: {kinds:#?}");
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.path.contains("/devices/"))
            .count(),
        2
    );
    // The report carries the state before and after, for an undo.
    assert_eq!(u["before"]["accountEnabled"], true);
    assert_eq!(u["after"]["accountEnabled"], false);
}

#[test]
fn text_output_shows_each_step_and_the_account_before_and_after() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "alex@contoso.com", "--yes"])
        .run();
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("Alex Wilber <alex@contoso.com>: locked"),
        "{}",
        run.stdout
    );
    for s in [
        "disable_account",
        "revoke_sessions",
        "reset_password",
        "disable_devices",
        "verify",
    ] {
        assert!(run.stdout.contains(s), "{s} missing: {}", run.stdout);
    }
    assert!(
        run.stdout.contains("account enabled: yes -> no"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 locked"),
        "summary goes to stderr: {}",
        run.stderr
    );
}

#[test]
fn already_disabled_account_sends_no_disable() {
    let t = Tenant::start();
    let run = t.block_json(&["johanna@contoso.com"]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked");
    assert_eq!(status_of(&u, "disable_account"), "already");
    assert_eq!(status_of(&u, "disable_devices"), "already");
    let writes = t.writes();
    assert!(
        writes.iter().all(|w| !w.path.contains("/devices/")),
        "no device write: {writes:#?}"
    );
    // Only the revoke and the password reset were written.
    assert_eq!(writes.len(), 2, "{writes:#?}");
}

#[test]
fn dry_run_reads_only_and_plans_every_write() {
    let t = Tenant::start();
    // No --yes needed for a dry run.
    let run = t
        .lockdown()
        .args(["block", "adele@contoso.com", "--dry-run", "-o", "json"])
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "planned");
    for s in [
        "disable_account",
        "revoke_sessions",
        "reset_password",
        "disable_devices",
        "verify",
    ] {
        assert_eq!(status_of(&u, s), "planned", "{s}");
    }
    assert!(step(&u, "disable_account")["detail"]
        .as_str()
        .unwrap()
        .contains("PATCH /v1.0/users/"));
    assert!(t.writes().is_empty(), "a dry run wrote: {:#?}", t.writes());
    // Not even a `$batch` envelope: a read-only run looks read-only on the wire.
    assert!(
        t.emu.requests().iter().all(|r| r.method == "GET"),
        "{:#?}",
        t.emu.requests()
    );
    assert!(t.user("adele@contoso.com").account_enabled);
}

#[test]
fn keep_enabled_leaves_the_account_on_but_resets_the_password() {
    let t = Tenant::start();
    let run = t.block_json(&["alex@contoso.com", "--keep-enabled"]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked");
    assert_eq!(status_of(&u, "disable_account"), "skipped");
    assert_eq!(status_of(&u, "reset_password"), "done");
    assert_eq!(status_of(&u, "verify"), "done");
    let after = t.user("alex@contoso.com");
    assert!(after.account_enabled);
    assert_eq!(after.password_resets, 1);
}

#[test]
fn skip_flags_skip_exactly_their_step() {
    let t = Tenant::start();
    let run = t.block_json(&[
        "alex@contoso.com",
        "--skip-password",
        "--skip-sessions",
        "--skip-devices",
    ]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked");
    assert_eq!(status_of(&u, "disable_account"), "done");
    for s in ["revoke_sessions", "reset_password", "disable_devices"] {
        assert_eq!(status_of(&u, s), "skipped", "{s}");
    }
    let writes = t.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let after = t.user("alex@contoso.com");
    assert_eq!(after.password_resets, 0);
    assert!(after
        .device_ids
        .iter()
        .all(|d| t.emu.device(d).unwrap().account_enabled));
}

#[test]
fn unknown_user_is_not_found_and_others_still_run() {
    let t = Tenant::start();
    let run = t.block_json(&["nobody@contoso.com", "diego@contoso.com"]);
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2);
    let missing = lines
        .iter()
        .find(|l| l["target"] == "nobody@contoso.com")
        .unwrap();
    assert_eq!(missing["outcome"], "not_found");
    assert_eq!(missing["error"]["status"], 404);
    assert_eq!(missing["error"]["code"], "Request_ResourceNotFound");
    let diego = lines
        .iter()
        .find(|l| l["target"] == "diego@contoso.com")
        .unwrap();
    assert_eq!(diego["outcome"], "locked");
    assert_eq!(status_of(diego, "disable_devices"), "already");
    assert!(!t.user("diego@contoso.com").account_enabled);
}

#[test]
fn guest_upn_with_ext_is_encoded_and_its_password_skipped() {
    let t = Tenant::start();
    let guest = "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    let run = t.block_json(&[guest]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(u["userPrincipalName"], guest);
    assert_eq!(status_of(&u, "reset_password"), "skipped");
    assert!(step(&u, "reset_password")["detail"]
        .as_str()
        .unwrap()
        .contains("home tenant"));
    assert_eq!(status_of(&u, "revoke_sessions"), "done");
    assert!(step(&u, "revoke_sessions")["detail"]
        .as_str()
        .unwrap()
        .contains("home tenant"));
    assert!(!t.user(guest).account_enabled);
    assert_eq!(t.user(guest).password_resets, 0);
    // `#` went over the wire as %23, never as a fragment.
    assert!(t
        .emu
        .requests()
        .iter()
        .any(|r| r.raw_path.contains("%23EXT%23")));
}

#[test]
fn dollar_and_apostrophe_upns_are_addressed_correctly() {
    let t = Tenant::start();
    let run = t.block_json(&["$lidia@contoso.com", "patti.o'fernandez@contoso.com"]);
    run.assert_code(0);
    for u in run.lines() {
        assert_eq!(u["outcome"], "locked", "{u:#}");
    }
    assert!(!t.user("$lidia@contoso.com").account_enabled);
    assert!(!t.user("patti.o'fernandez@contoso.com").account_enabled);
    // Patti's Mac was disabled with the delegated admin token.
    let patti = t.user("patti.o'fernandez@contoso.com");
    assert!(patti
        .device_ids
        .iter()
        .all(|d| !t.emu.device(d).unwrap().account_enabled));
}

#[test]
fn object_id_and_upn_of_the_same_user_act_once() {
    let t = Tenant::start();
    let alex = t.user("alex@contoso.com");
    let upper = alex.id.to_uppercase();
    let run = t.block_json(&[&upper, "ALEX@contoso.com", "alex@contoso.com"]);
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "one line for one account: {lines:#?}");
    assert_eq!(lines[0]["outcome"], "locked");
    assert_eq!(t.user("alex@contoso.com").password_resets, 1);
    assert_eq!(
        t.writes()
            .iter()
            .filter(|w| w.path.contains("revokeSignInSessions"))
            .count(),
        1
    );
}

#[test]
fn synced_user_without_either_route_is_partial_and_says_what_to_do_on_premises() {
    // A tenant without the block group and without Defender for Identity.
    let t = Tenant::start();
    let run = t.block_json(&["grady@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let reason = u["reason"].as_str().unwrap();
    assert!(
        reason.contains("disable it in Active Directory"),
        "{reason}"
    );
    // Graph refuses these for a synced account: they are not sent, and say where it is done.
    for s in ["disable_account", "reset_password"] {
        let detail = step(&u, s)["detail"].as_str().unwrap().to_owned();
        assert_eq!(status_of(&u, s), "skipped", "{s}");
        assert!(detail.contains("Defender for Identity"), "{detail}");
    }
    assert!(t
        .writes()
        .iter()
        .all(|w| !(w.method == "PATCH" && w.path.contains("/users/"))));
    // Sessions were still revoked in the cloud.
    assert_eq!(status_of(&u, "revoke_sessions"), "done");
    assert_eq!(status_of(&u, "block_sign_in"), "skipped");
    assert_eq!(status_of(&u, "disable_onprem_account"), "skipped");
    // The hybrid-joined device is mastered on-premises too: skipped, not refused.
    let dev = step(&u, "disable_devices");
    assert_eq!(dev["status"], "skipped");
    assert!(dev["devices"][0]["note"]
        .as_str()
        .unwrap()
        .contains("on-premises"));
    assert_eq!(status_of(&u, "verify"), "done");
    assert!(t.user("grady@contoso.com").account_enabled);
}

/// Graph does not let an application list a user's registered devices; Intune answered, so
/// that 403 is "not available", not a failure (more in `devices.rs`).
#[test]
fn app_only_token_says_registered_devices_are_not_available_when_intune_answers() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &t.emu.app_token())
        .args(["block", "--yes", "-o", "json", "alex@contoso.com"])
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(status_of(&u, "disable_account"), "done");
    assert_eq!(status_of(&u, "revoke_sessions"), "done");
    assert_eq!(status_of(&u, "reset_password"), "done");
    let dev = step(&u, "disable_devices");
    assert_eq!(dev["status"], "already", "{dev:#}");
    assert_eq!(dev["sources"]["entra"], "not_available");
    assert_eq!(dev["sources"]["intune"], "listed");
    assert!(dev["detail"].as_str().unwrap().contains("(403)"), "{dev:#}");
    // Alex's desktop is registered but not in Intune: no token an application can hold finds it.
    let alex = t.user("alex@contoso.com");
    assert!(t.emu.device(&alex.device_ids[0]).unwrap().account_enabled);
    // No /me with an app-only token.
    assert!(t.emu.requests().iter().all(|r| !r.path.ends_with("/me")));
}

#[test]
fn missing_permission_names_the_permission() {
    let t = Tenant::start();
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: vec!["User.Read.All".into(), "User.RevokeSessions.All".into()],
        directory_roles: vec![],
    });
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--skip-devices",
            "diego@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial");
    let disable = step(&u, "disable_account");
    assert_eq!(disable["error"]["code"], "Authorization_RequestDenied");
    assert!(disable["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("User.EnableDisableAccount.All"));
    let pw = step(&u, "reset_password");
    assert!(pw["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("User-PasswordProfile.ReadWrite.All"));
    assert_eq!(status_of(&u, "revoke_sessions"), "done");
    assert!(t.user("diego@contoso.com").account_enabled);
}

#[test]
fn privileged_target_warns_and_explains_the_403() {
    let t = Tenant::start();
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::Delegated {
            upn: "alex@contoso.com".into(),
        },
        permissions: vec![
            "User.ReadWrite.All".into(),
            "Directory.Read.All".into(),
            "Directory.AccessAsUser.All".into(),
        ],
        directory_roles: vec!["User Administrator".into()],
    });
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--skip-devices",
            "isaiah@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let u = run.one();
    let warnings = u["warnings"].to_string();
    assert!(warnings.contains("User Administrator"), "{u:#}");
    let disable = step(&u, "disable_account");
    assert_eq!(disable["status"], "failed");
    assert!(disable["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("Privileged Authentication Administrator"));
    assert!(t.user("isaiah@contoso.com").account_enabled);
}

#[test]
fn follows_next_link_through_every_page_of_devices() {
    let t = Tenant::with(EmulatorConfig {
        max_page_size: 50,
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&["kiosk@contoso.com"]);
    run.assert_code(0);
    let u = run.one();
    let devices = step(&u, "disable_devices")["devices"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(devices, 120);
    let kiosk = t.user("kiosk@contoso.com");
    assert_eq!(kiosk.device_ids.len(), 120);
    assert!(kiosk
        .device_ids
        .iter()
        .all(|d| !t.emu.device(d).unwrap().account_enabled));
    let pages = t
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/registeredDevices") && r.query.contains("skiptoken"))
        .count();
    assert!(pages >= 2, "nextLink pages fetched: {pages}");
}

#[test]
fn refuses_to_write_without_a_terminal_or_yes() {
    let t = Tenant::start();
    let run = t.lockdown().args(["block", "adele@contoso.com"]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(t.emu.requests().is_empty(), "nothing may be sent");
}

#[test]
fn one_user_takes_two_round_trips_with_batching() {
    let t = Tenant::start();
    let run = t.block_json(&["adele@contoso.com"]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    let calls: Vec<String> = t
        .emu
        .requests()
        .iter()
        .filter(|r| !r.in_batch)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    // /me with the reads; the ordered writes with the verifying re-read at the end.
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls.iter().all(|c| c == "POST /v1.0/$batch"), "{calls:#?}");
    let first: Vec<String> = t
        .emu
        .requests()
        .iter()
        .filter(|r| r.in_batch && r.method == "GET")
        .map(|r| r.path.clone())
        .collect();
    assert!(first.iter().any(|p| p == "/v1.0/me"), "{first:#?}");
    // The writes still went in order, and each batch item was recorded.
    let writes: Vec<String> = t
        .writes()
        .iter()
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(writes.len(), 5, "{writes:#?}");
    assert!(writes[0].starts_with("PATCH /v1.0/users/"), "{writes:#?}");
    assert!(writes[1].ends_with("/revokeSignInSessions"), "{writes:#?}");
    assert!(writes[2].starts_with("PATCH /v1.0/users/"), "{writes:#?}");
}

#[test]
fn the_same_run_without_batching_sends_requests_one_by_one() {
    let t = Tenant::start();
    let run = t.block_json(&["adele@contoso.com", "grady@contoso.com", "--no-batch"]);
    run.assert_code(1);
    let lines = run.lines();
    assert!(lines
        .iter()
        .any(|l| l["target"] == "adele@contoso.com" && l["outcome"] == "locked"));
    assert!(lines
        .iter()
        .any(|l| l["target"] == "grady@contoso.com" && l["outcome"] == "partial"));
    assert!(t
        .emu
        .requests()
        .iter()
        .all(|r| !r.in_batch && !r.path.contains("$batch")));
    assert!(!t.user("adele@contoso.com").account_enabled);
}

#[test]
fn a_server_without_batch_support_gets_requests_one_by_one() {
    let t = Tenant::with(EmulatorConfig {
        batching: false,
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&["adele@contoso.com", "alex@contoso.com"]);
    run.assert_code(0);
    assert!(
        run.lines().iter().all(|l| l["outcome"] == "locked"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr.matches("did not accept a JSON batch").count(),
        1,
        "{}",
        run.stderr
    );
    let requests = t.emu.requests();
    // The refused envelope(s), then every operation on its own.
    assert!(requests
        .iter()
        .any(|r| r.path.ends_with("$batch") && r.status == 400));
    assert!(requests.iter().all(|r| !r.in_batch));
    assert!(!t.user("alex@contoso.com").account_enabled);
}

#[test]
fn skip_takes_step_names_their_kebab_forms_and_aliases() {
    let t = Tenant::start();
    let before = t.user("adele@contoso.com");
    let run = t.block_json(&[
        "adele@contoso.com",
        "--skip",
        "reset-password,sessions",
        "--skip",
        "disable_devices",
    ]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(status_of(&u, "disable_account"), "done");
    for (name, flag) in [
        ("revoke_sessions", "--skip revoke_sessions"),
        ("reset_password", "--skip reset_password"),
        ("disable_devices", "--skip disable_devices"),
    ] {
        assert_eq!(status_of(&u, name), "skipped", "{u:#}");
        assert_eq!(step(&u, name)["detail"], format!("skipped by {flag}"));
    }
    let after = t.user("adele@contoso.com");
    assert_eq!(after.password_resets, before.password_resets);
    assert_eq!(
        after.sign_in_sessions_valid_from,
        before.sign_in_sessions_valid_from
    );
    assert_eq!(t.writes().len(), 1, "only the disable: {:#?}", t.writes());

    let bad = t.block_json(&["adele@contoso.com", "--skip", "verify"]);
    bad.assert_code(2);
    assert!(
        bad.stderr
            .contains("`verify` cannot be skipped: lockdown always reads the account back"),
        "{}",
        bad.stderr
    );
    let bad = t.block_json(&["adele@contoso.com", "--with", "verify"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("`verify` always runs"),
        "{}",
        bad.stderr
    );
    let bad = t.block_json(&["adele@contoso.com", "--skip", "nonsense"]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("nonsense"), "{}", bad.stderr);
}

/// The dry-run plan is built from the very requests a real run sends: for the same tenant state,
/// the writes it lists are exactly the writes a real run makes.
#[test]
fn the_dry_run_plan_equals_the_writes_a_real_run_sends() {
    let users = [
        "adele@contoso.com",
        "johanna@contoso.com",
        "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "grady@contoso.com",
        "kiosk@contoso.com",
        "$lidia@contoso.com",
    ];
    let planned_tenant = Tenant::start();
    let plan = planned_tenant
        .lockdown()
        .args(["block", "--dry-run", "-o", "json"])
        .args(users)
        .run();
    let mut planned: Vec<String> = Vec::new();
    for u in plan.lines() {
        assert_eq!(u["outcome"], "planned", "{u:#}");
        for s in u["steps"].as_array().unwrap() {
            for r in s["requests"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                // "PATCH /v1.0/devices/{id} {body}": method and path.
                let mut parts = r.splitn(3, ' ');
                planned.push(format!(
                    "{} {}",
                    parts.next().unwrap(),
                    parts.next().unwrap()
                ));
            }
        }
    }
    assert!(
        planned_tenant.writes().is_empty(),
        "a dry run writes nothing"
    );

    let real_tenant = Tenant::start();
    real_tenant
        .lockdown()
        .args(["block", "--yes", "-o", "json"])
        .args(users)
        .run();
    let mut sent: Vec<String> = real_tenant
        .writes()
        .iter()
        // A request whose dependency failed did not run (424) and was sent again.
        .filter(|w| w.status != 424)
        .map(|w| format!("{} {}", w.method, w.raw_path))
        .collect();
    planned.sort();
    sent.sort();
    assert!(planned.len() > 120, "{planned:#?}");
    assert_eq!(planned, sent);
}
