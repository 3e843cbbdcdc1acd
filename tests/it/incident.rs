//! The opt-in incident steps (`--with`, `--incident`): authentication methods, app consents,
//! inbox rules, confirm compromised. Each test asserts the report and the tenant afterwards.

use lockdown_emulator::{
    contoso_apps, contoso_ids, EmulatorConfig, EntraIdPlan, TokenKind, TokenSpec,
};
use serde_json::Value;

use crate::support::{status_of, step, Tenant};

const ADELE_PHONE: &str = "4255550123";
const NESTOR_PHONE: &str = "2065550188";

fn items<'a>(step: &'a Value, key: &str) -> &'a Vec<Value> {
    step[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {step}"))
}

fn item<'a>(step: &'a Value, key: &str, field: &str, value: &str) -> &'a Value {
    items(step, key)
        .iter()
        .find(|i| i[field] == value)
        .unwrap_or_else(|| panic!("no {key} item with {field} {value}: {step}"))
}

/// Top-level HTTP calls the run made (a `$batch` counting once).
fn calls(t: &Tenant) -> Vec<String> {
    t.emu
        .requests()
        .iter()
        .filter(|r| !r.in_batch)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn incident_locks_adele_down_and_the_tenant_shows_it() {
    let t = Tenant::start();
    let run = t.block_json(&["adele@contoso.com", "--incident"]);
    run.assert_code(0);
    let user = run.one();
    assert_eq!(user["outcome"], "locked", "{user:#}");
    let names: Vec<&str> = user["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "disable_account",
            "block_sign_in",
            "revoke_sessions",
            "reset_password",
            "disable_onprem_account",
            "remove_auth_methods",
            "revoke_app_consents",
            "disable_inbox_rules",
            "disable_devices",
            "confirm_compromised",
            "verify"
        ]
    );

    // Methods: every one but the password, listed with the phone masked.
    let methods = step(&user, "remove_auth_methods");
    assert_eq!(methods["status"], "done");
    assert!(methods["detail"]
        .as_str()
        .unwrap()
        .contains("must register an authentication method again at next sign-in"));
    assert_eq!(items(methods, "methods").len(), 4);
    assert_eq!(
        item(methods, "methods", "type", "password")["status"],
        "skipped"
    );
    let phone = item(methods, "methods", "type", "phone");
    assert_eq!(phone["displayName"], "mobile ******23");
    assert_eq!(phone["status"], "done");
    assert_eq!(
        item(methods, "methods", "type", "microsoftAuthenticator")["displayName"],
        "Adele's iPhone 15"
    );
    let left = t.emu.auth_methods("adele@contoso.com");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, "password");

    // Consents: the user's own, named from the app's service principal.
    let consents = step(&user, "revoke_app_consents");
    assert_eq!(consents["status"], "done");
    let grant = &items(consents, "grants")[0];
    assert_eq!(grant["clientId"], contoso_apps::MAIL_SYNC_PRO);
    assert_eq!(grant["appDisplayName"], "Mail Sync Pro");
    assert_eq!(
        grant["scope"],
        "Mail.Read Mail.Send offline_access User.Read"
    );
    assert_eq!(grant["status"], "done");
    let detail = consents["detail"].as_str().unwrap();
    assert!(detail.contains("stay valid until they expire"), "{detail}");
    assert!(detail.contains("tenant-wide"), "{detail}");
    let grants = t.emu.permission_grants();
    assert!(grants
        .iter()
        .all(|g| g.principal_id.as_deref() != Some(contoso_ids::ADELE)));
    assert!(
        grants.iter().any(|g| g.consent_type == "AllPrincipals"),
        "tenant-wide consents are not touched"
    );

    // Rules: the forwarding one disabled, not deleted; the other left alone, saying why.
    let rules = step(&user, "disable_inbox_rules");
    assert_eq!(rules["status"], "done");
    let invoices = item(rules, "rules", "displayName", "Invoices");
    assert_eq!(invoices["status"], "done");
    assert_eq!(
        invoices["reason"],
        "forwards to accounts@fabrikam-billing.example"
    );
    let newsletters = item(rules, "rules", "displayName", "Newsletters");
    assert_eq!(newsletters["status"], "skipped");
    assert!(newsletters["reason"]
        .as_str()
        .unwrap()
        .starts_with("not suspicious"));
    assert!(rules["detail"].as_str().unwrap().contains(
        "Set-Mailbox -Identity adele@contoso.com -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false"
    ));
    let state = t.emu.inbox_rules("adele@contoso.com").unwrap();
    assert_eq!(state.len(), 2, "disabled, not deleted");
    assert!(state
        .iter()
        .any(|r| r.display_name == "Invoices" && !r.is_enabled));
    assert!(state
        .iter()
        .any(|r| r.display_name == "Newsletters" && r.is_enabled));

    // Identity Protection: high risk, confirmed.
    assert_eq!(status_of(&user, "confirm_compromised"), "done");
    let risk = t.emu.risky_user("adele@contoso.com").unwrap();
    assert_eq!(risk.risk_level, "high");
    assert_eq!(risk.risk_state, "confirmedCompromised");

    // Verify re-read everything; before/after hold what an undo needs.
    let verify = step(&user, "verify");
    assert_eq!(verify["status"], "done", "{verify}");
    let held = verify["detail"].as_str().unwrap();
    assert!(held.contains("only the password is registered"), "{held}");
    assert!(
        held.contains("1 app consent(s) read back revoked"),
        "{held}"
    );
    assert!(
        held.contains("1 inbox rule(s) read back disabled"),
        "{held}"
    );
    assert_eq!(user["before"]["methods"].as_array().unwrap().len(), 4);
    assert_eq!(user["after"]["methods"].as_array().unwrap().len(), 1);
    assert_eq!(
        user["before"]["grants"][0]["resourceId"],
        user["before"]["grants"][0]["resourceId"]
    );
    assert_eq!(
        user["before"]["grants"][0]["clientId"],
        contoso_apps::MAIL_SYNC_PRO
    );
    let before_rules = user["before"]["rules"].as_array().unwrap();
    assert!(before_rules
        .iter()
        .all(|r| r["isEnabled"] == true && r["id"].is_string()));
    assert_eq!(user["after"]["grants"].as_array().unwrap().len(), 0);
}

#[test]
fn a_refused_default_method_is_deleted_again_last() {
    let t = Tenant::start();
    let run = t.block_json(&["nestor@contoso.com", "--with", "auth-methods"]);
    run.assert_code(0);
    let user = run.one();
    assert_eq!(user["outcome"], "locked", "{user:#}");
    let methods = step(&user, "remove_auth_methods");
    assert_eq!(methods["status"], "done");
    assert!(methods["detail"]
        .as_str()
        .unwrap()
        .contains("the default one last"));
    // The phone (the default) first: refused, the Authenticator, then the phone again.
    let deletes: Vec<(String, u16)> = t
        .emu
        .requests()
        .iter()
        // A request of the chain that did not run (424) is logged too; it was sent again.
        .filter(|r| r.method == "DELETE" && r.status != 424)
        .map(|r| {
            let kind = r.path.split('/').nth(5).unwrap_or("").to_owned();
            (kind, r.status)
        })
        .collect();
    assert_eq!(
        deletes,
        [
            ("phoneMethods".to_owned(), 400),
            ("microsoftAuthenticatorMethods".to_owned(), 204),
            ("phoneMethods".to_owned(), 204),
        ],
        "{deletes:?}"
    );
    assert_eq!(t.emu.auth_methods("nestor@contoso.com").len(), 1);
    assert_eq!(status_of(&user, "verify"), "done");
}

#[test]
fn the_incident_contains_in_two_round_trips_and_finishes_in_at_most_four() {
    // Nestor: two devices, three methods (the default deleted first and refused), two rules
    // and a consent.
    let t = Tenant::start();
    let run = t.block_json(&["nestor@contoso.com", "--incident"]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    let refused = calls(&t);
    // The run's one read of the Conditional Access policies (for block_sign_in) shares
    // Identity Protection's 1 request a second: confirmCompromised waits for the next second.
    assert!(refused.len() <= 4, "{refused:#?}");
    // Containment goes out in the second round trip, whatever the clean-up needs after it:
    // every write that contains the account is an item of the second envelope.
    let all = t.emu.requests();
    let envelopes: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.in_batch)
        .map(|(n, _)| n)
        .collect();
    let second = envelopes[1]..envelopes.get(2).copied().unwrap_or(all.len());
    let containment: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let user =
                r.path.starts_with("/v1.0/users/") && !r.path["/v1.0/users/".len()..].contains('/');
            (r.method == "PATCH" && user)
                || r.path.ends_with("/revokeSignInSessions")
                || r.path.contains("/members/$ref")
        })
        .map(|(n, _)| n)
        .collect();
    // Disable, revoke and reset (this tenant has no block group).
    assert_eq!(containment.len(), 3, "{containment:?}");
    assert!(
        containment.iter().all(|n| second.contains(n)),
        "containment outside the second round trip: {containment:?} not in {second:?}"
    );
    assert!(
        refused.iter().all(|c| c == "POST /v1.0/$batch"),
        "{refused:#?}"
    );
    // Adele: the default is deleted last, so nothing is refused: two round trips, and a third
    // for confirmCompromised, held to the next second by the policies read in the first (the
    // requests after it in the chain follow it).
    let t = Tenant::start();
    let run = t.block_json(&["adele@contoso.com", "--incident"]);
    run.assert_code(0);
    let plain = calls(&t);
    assert_eq!(plain.len(), 3, "{plain:#?}");
    let last_batch: Vec<String> = {
        let all = t.emu.requests();
        let at = all
            .iter()
            .rposition(|r| !r.in_batch)
            .expect("a batch envelope");
        all[at + 1..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };
    assert_eq!(
        last_batch[0], "POST /v1.0/identityProtection/riskyUsers/confirmCompromised",
        "the paced request, and the chain after it: {last_batch:#?}"
    );
}

#[test]
fn a_read_only_rule_and_a_password_only_user_are_skipped_and_the_user_is_locked() {
    let t = Tenant::start();
    let run = t.block_json(&["diego@contoso.com", "--incident"]);
    run.assert_code(0);
    let user = run.one();
    assert_eq!(user["outcome"], "locked", "{user:#}");
    let rules = step(&user, "disable_inbox_rules");
    assert_eq!(rules["status"], "skipped");
    let forward = item(rules, "rules", "displayName", "Forward all");
    assert_eq!(forward["status"], "skipped");
    let reason = forward["reason"].as_str().unwrap();
    assert!(
        reason.contains("forwards to diego.s@outlook.example"),
        "{reason}"
    );
    assert!(reason.contains("read-only"), "{reason}");
    assert!(rules["detail"]
        .as_str()
        .unwrap()
        .contains("read-only and still enabled: Forward all"));
    assert_eq!(status_of(&user, "remove_auth_methods"), "skipped");
    assert_eq!(status_of(&user, "revoke_app_consents"), "skipped");
    // Nothing was sent to the read-only rule.
    assert!(t
        .emu
        .requests()
        .iter()
        .all(|r| r.method != "PATCH" || !r.path.contains("messageRules")));
    assert!(t.emu.inbox_rules("diego@contoso.com").unwrap()[0].is_enabled);
}

#[test]
fn a_user_without_a_mailbox_is_skipped_not_failed() {
    let t = Tenant::start();
    let run = t.block_json(&[
        "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "--with",
        "inbox-rules",
    ]);
    run.assert_code(0);
    let user = run.one();
    assert_eq!(user["outcome"], "locked", "{user:#}");
    let rules = step(&user, "disable_inbox_rules");
    assert_eq!(rules["status"], "skipped");
    assert!(rules["detail"]
        .as_str()
        .unwrap()
        .contains("MailboxNotEnabledForRESTAPI"));
}

#[test]
fn inbox_rules_all_disables_every_enabled_rule_and_needs_the_step() {
    let t = Tenant::start();
    let run = t.block_json(&[
        "nestor@contoso.com",
        "--with",
        "inbox-rules",
        "--inbox-rules",
        "all",
    ]);
    run.assert_code(0);
    let rules = step(&run.one(), "disable_inbox_rules").clone();
    assert_eq!(
        item(&rules, "rules", "displayName", "Team updates")["reason"],
        "enabled (--inbox-rules all)"
    );
    assert!(t
        .emu
        .inbox_rules("nestor@contoso.com")
        .unwrap()
        .iter()
        .all(|r| !r.is_enabled));
    let alone = t
        .lockdown()
        .args([
            "block",
            "--yes",
            "nestor@contoso.com",
            "--inbox-rules",
            "all",
        ])
        .run();
    alone.assert_code(2);
    assert!(alone.stderr.contains("--with inbox-rules"), "{alone:?}");
}

#[test]
fn without_p2_confirm_compromised_fails_with_a_hint_naming_licence_and_permission() {
    let t = Tenant::start();
    t.emu.set_entra_id(EntraIdPlan::P1);
    let run = t.block_json(&["adele@contoso.com", "--with", "confirm-compromised"]);
    run.assert_code(1);
    let user = run.one();
    assert_eq!(user["outcome"], "partial");
    let confirm = step(&user, "confirm_compromised");
    assert_eq!(confirm["status"], "failed");
    assert_eq!(confirm["error"]["status"], 403);
    let hint = confirm["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("Microsoft Entra ID P2"), "{hint}");
    assert!(hint.contains("IdentityRiskyUser.ReadWrite.All"), "{hint}");
    assert!(hint.contains("Security Administrator"), "{hint}");
    assert_eq!(
        t.emu.risky_user("adele@contoso.com").unwrap().risk_level,
        "medium"
    );
}

#[test]
fn a_403_on_each_incident_step_names_its_permission_and_role() {
    let t = Tenant::start();
    // An admin whose token has only what the default steps need.
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::Delegated {
            upn: "admin@contoso.com".into(),
        },
        permissions: [
            "User.Read",
            "User.Read.All",
            "User.EnableDisableAccount.All",
            "User.RevokeSessions.All",
            "User-PasswordProfile.ReadWrite.All",
            "Device.ReadWrite.All",
            "RoleManagement.Read.Directory",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        directory_roles: vec!["Global Administrator".into()],
    });
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "adele@contoso.com",
            "--incident",
        ])
        .run();
    run.assert_code(1);
    let user = run.one();
    assert_eq!(user["outcome"], "partial");
    for (name, needles) in [
        (
            "remove_auth_methods",
            &[
                "UserAuthenticationMethod.Read.All",
                "Authentication Administrator",
            ][..],
        ),
        (
            "revoke_app_consents",
            &["DelegatedPermissionGrant.ReadWrite.All"][..],
        ),
        ("disable_inbox_rules", &["MailboxSettings.ReadWrite"][..]),
        (
            "confirm_compromised",
            &["IdentityRiskyUser.ReadWrite.All", "Security Administrator"][..],
        ),
    ] {
        let s = step(&user, name);
        assert_eq!(s["status"], "failed", "{s}");
        assert_eq!(s["error"]["status"], 403, "{s}");
        let hint = s["error"]["hint"].as_str().unwrap_or_default();
        for needle in needles {
            assert!(hint.contains(needle), "{name}: {hint}");
        }
    }
    // The default steps still took effect.
    assert!(!t.user("adele@contoso.com").account_enabled);
}

#[test]
fn a_dry_run_shows_the_exact_requests_and_sends_only_reads() {
    let t = Tenant::start();
    let run = t.block_json(&["adele@contoso.com", "--incident", "--dry-run"]);
    run.assert_code(0);
    let user = run.one();
    assert_eq!(user["outcome"], "planned");
    assert!(
        t.emu.requests().iter().all(|r| r.method == "GET"),
        "{:#?}",
        t.emu.requests()
    );
    let requests = |name: &str| -> Vec<String> {
        step(&user, name)["requests"]
            .as_array()
            .unwrap_or_else(|| panic!("no requests: {}", step(&user, name)))
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    let id = contoso_ids::ADELE;
    assert_eq!(
        requests("remove_auth_methods"),
        [
            format!("DELETE /v1.0/users/{id}/authentication/fido2Methods/-2_GRUg2-HYz6_1YG4YRAQ2 (no body)"),
            format!("DELETE /v1.0/users/{id}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7 (no body)"),
            format!("DELETE /v1.0/users/{id}/authentication/microsoftAuthenticatorMethods/_jpuR-TGZtk6aQCLF3BQjA2 (no body)"),
        ]
    );
    assert_eq!(
        requests("revoke_app_consents"),
        ["DELETE /v1.0/oauth2PermissionGrants/E3NHhUPqfUy4pFT-010LYFo5-ycA-_5Fhl7nHbaJ7qACy1R9o6oWQJ-cpLSUIt2b (no body)"]
    );
    assert_eq!(
        requests("disable_inbox_rules"),
        [format!(
            "PATCH /v1.0/users/{id}/mailFolders/inbox/messageRules/AQAAAJ5dZqA= {{\"isEnabled\":false}}"
        )]
    );
    assert_eq!(
        requests("confirm_compromised"),
        [format!(
            "POST /v1.0/identityProtection/riskyUsers/confirmCompromised {{\"userIds\":[\"{id}\"]}}"
        )]
    );
    for name in [
        "remove_auth_methods",
        "revoke_app_consents",
        "disable_inbox_rules",
        "confirm_compromised",
    ] {
        assert_eq!(status_of(&user, name), "planned", "{name}");
    }
    // Nothing changed.
    assert_eq!(t.emu.auth_methods("adele@contoso.com").len(), 4);
}

#[test]
fn phone_numbers_are_masked_in_text_json_and_trace_logs() {
    for output in ["text", "json"] {
        let t = Tenant::start();
        let run = t
            .lockdown()
            .args([
                "block",
                "--yes",
                "-vv",
                "-o",
                output,
                "adele@contoso.com",
                "nestor@contoso.com",
                "--with",
                "auth-methods",
            ])
            .run();
        let all = format!("{}{}", run.stdout, run.stderr);
        for number in [ADELE_PHONE, NESTOR_PHONE, "555 0123", "5550123", "5550188"] {
            assert!(!all.contains(number), "{output}: the phone number leaked");
        }
        assert!(run.stdout.contains("******23"), "{output}: {}", run.stdout);
        t.assert_nothing_secret(&all);
    }
}

#[test]
fn status_shows_what_the_incident_steps_would_change() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["status", "adele@contoso.com", "--incident"])
        .run();
    run.assert_code(0);
    let out = &run.stdout;
    for line in [
        "auth methods:        4 (3 would be deleted)",
        "  - phone mobile ******23: would be deleted",
        "  - password: stays (cannot be deleted)",
        "app consents:        1 (would be revoked)",
        "inbox rules:         2 (1 would be disabled)",
        "user risk:           medium (atRisk); would be confirmed compromised (high)",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(!out.contains(ADELE_PHONE));
    assert!(t.emu.requests().iter().all(|r| r.method == "GET"));
    // JSON: the same facts as fields.
    let run = t
        .lockdown()
        .args([
            "status",
            "-o",
            "json",
            "nestor@contoso.com",
            "--with",
            "inbox-rules,confirm-compromised",
        ])
        .run();
    let user = run.one();
    assert_eq!(user["riskLevel"], "none");
    assert_eq!(user["inboxRules"].as_array().unwrap().len(), 2);
    assert!(user.get("authenticationMethods").is_none());
}

#[test]
fn users_confirmed_together_share_requests_at_one_a_second_without_a_429() {
    let t = Tenant::with(EmulatorConfig {
        throttling: true,
        time_scale: 50.0,
        ..EmulatorConfig::default()
    });
    let users = [
        "adele@contoso.com",
        "nestor@contoso.com",
        "diego@contoso.com",
        "alex@contoso.com",
        "zoe@contoso.com",
        "user01@contoso.com",
    ];
    let mut args = users.to_vec();
    args.extend(["--with", "confirm-compromised"]);
    let run = t.block_json(&args);
    run.assert_code(0);
    assert!(run.lines().iter().all(|l| l["outcome"] == "locked"));
    let confirms: Vec<u16> = t
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/confirmCompromised"))
        .map(|r| r.status)
        .collect();
    assert!(
        confirms.iter().all(|s| *s == 204),
        "paced, not throttled: {confirms:?}"
    );
    assert!(
        confirms.len() < users.len(),
        "{} requests for {} users",
        confirms.len(),
        users.len()
    );
    for u in users {
        assert_eq!(
            t.emu.risky_user(u).unwrap().risk_state,
            "confirmedCompromised"
        );
    }
}

#[test]
fn a_bulk_run_waits_for_the_reports_limit_instead_of_meeting_429s() {
    // 16 users, a methods list each: 11 more than the 5 the identity and access reports limit
    // takes at once, at one every 2 s after that.
    let users = 16;
    let t = Tenant::bulk(users, 0, 20.0);
    let run = t.block_bulk(users, &["--incident"]);
    run.assert_code(0);
    assert!(run.lines().iter().all(|l| l["outcome"] == "locked"));
    let requests = t.emu.requests();
    let throttled: Vec<String> = requests
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| r.path.clone())
        .collect();
    assert!(throttled.is_empty(), "paced, not throttled: {throttled:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.ends_with("/authentication/methods") && r.status == 200)
            .count(),
        users
    );
}
