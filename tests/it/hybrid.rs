//! Hybrid accounts: the Conditional Access block group (`lockdown setup`, `block_sign_in`) and
//! the on-premises account through Defender for Identity (`disable_onprem_account`).

use lockdown_emulator::{contoso_ids as ids, EmulatorConfig, EntraIdPlan, TokenKind, TokenSpec};
use serde_json::Value;

use crate::support::{status_of, step, Tenant};

const GRADY: &str = "grady@contoso.com";

/// Contoso as the sandbox has it: setup run, Defender for Identity deployed.
fn tenant(setup: bool, mdi: bool) -> Tenant {
    Tenant::with(EmulatorConfig {
        lockdown_setup: setup,
        defender_for_identity: mdi,
        ..EmulatorConfig::default()
    })
}

fn members(t: &Tenant) -> Vec<String> {
    t.emu
        .groups()
        .into_iter()
        .find(|g| g.id == ids::BLOCK_GROUP)
        .expect("the block group")
        .members
}

fn policy(t: &Tenant) -> Value {
    t.emu
        .conditional_access_policies()
        .into_iter()
        .find(|p| p["displayName"] == "lockdown: block sign-in for blocked accounts")
        .expect("the block policy")
}

/// Non-batched HTTP calls (a `$batch` envelope counts once).
fn calls(t: &Tenant) -> Vec<String> {
    t.emu
        .requests()
        .iter()
        .filter(|r| !r.in_batch)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn grady_is_locked_through_both_routes() {
    let t = tenant(true, true);
    let run = t.block_json(&[GRADY]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    // The cloud route: in the block group, under an enforcing policy.
    let block = step(&u, "block_sign_in");
    assert_eq!(block["status"], "done", "{u:#}");
    assert_eq!(block["blocking"], true);
    assert_eq!(block["group"], ids::BLOCK_GROUP);
    assert_eq!(members(&t), [ids::GRADY]);
    // The on-premises route: disable and password reset requested through Defender for Identity.
    let onprem = step(&u, "disable_onprem_account");
    assert_eq!(onprem["status"], "done", "{u:#}");
    let detail = onprem["detail"].as_str().unwrap();
    assert!(
        detail.contains("requested through Defender for Identity")
            && detail.contains("correlationId"),
        "{detail}"
    );
    let actions: Vec<&str> = onprem["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["disable", "forcePasswordReset"]);
    assert!(onprem["actions"][0]["correlationId"].is_string());
    let ad = t.emu.on_premises_account(GRADY).unwrap();
    assert_eq!(ad.actions, ["disable", "forcePasswordReset"]);
    // Graph refuses these for a synced account: they were not sent.
    assert_eq!(status_of(&u, "disable_account"), "skipped");
    assert_eq!(status_of(&u, "reset_password"), "skipped");
    assert!(t
        .writes()
        .iter()
        .all(|w| !(w.method == "PATCH" && w.path.contains("/users/"))));
    assert_eq!(status_of(&u, "revoke_sessions"), "done");
    // Verify read the identity account back: the disable is asynchronous, so still pending.
    let verify = step(&u, "verify");
    assert_eq!(verify["status"], "done");
    assert!(
        verify["detail"].as_str().unwrap().contains("pending"),
        "{verify}"
    );
    assert_eq!(u["after"]["onPremisesAccountEnabled"], true);
}

#[test]
fn grady_with_only_the_group_is_locked_and_with_only_defender_for_identity_partial() {
    let t = tenant(true, false);
    let run = t.block_json(&[GRADY]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(status_of(&u, "block_sign_in"), "done");
    let onprem = step(&u, "disable_onprem_account");
    assert_eq!(onprem["status"], "skipped");
    assert!(onprem["detail"]
        .as_str()
        .unwrap()
        .contains("reset its password twice"));
    // Said once per run on stderr.
    assert_eq!(
        run.stderr
            .matches("Defender for Identity is not available")
            .count(),
        1,
        "{}",
        run.stderr
    );

    // Only Defender for Identity: the AD account is disabled, but that reaches Entra ID only
    // at the next sync, and the cloud still accepts the password meanwhile.
    let t = tenant(false, true);
    let run = t.block_json(&[GRADY]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    assert_eq!(status_of(&u, "disable_onprem_account"), "done");
    assert_eq!(status_of(&u, "block_sign_in"), "skipped");
    let reason = u["reason"].as_str().unwrap();
    assert!(reason.contains("next directory sync"), "{reason}");
    assert_eq!(
        t.emu.on_premises_account(GRADY).unwrap().actions[0],
        "disable"
    );
}

#[test]
fn a_policy_that_does_not_enforce_warns_and_leaves_a_synced_user_partial() {
    let t = tenant(true, false);
    t.emu
        .edit_conditional_access_policy(ids::BLOCK_POLICY, |p| {
            p.insert("state".into(), "enabledForReportingButNotEnforced".into());
        });
    let run = t.block_json(&[GRADY, "adele@contoso.com"]);
    run.assert_code(1);
    let lines = run.lines();
    let by = |upn: &str| {
        lines
            .iter()
            .find(|l| l["userPrincipalName"] == upn)
            .unwrap()
            .clone()
    };
    for upn in [GRADY, "adele@contoso.com"] {
        let u = by(upn);
        assert_eq!(status_of(&u, "block_sign_in"), "done", "{u:#}");
        assert_eq!(step(&u, "block_sign_in")["blocking"], false);
        let warnings = u["warnings"].to_string();
        assert!(warnings.contains("report-only"), "{warnings}");
    }
    // Adele is disabled in the cloud: locked. Grady's cloud sign-in is open: partial.
    assert_eq!(by("adele@contoso.com")["outcome"], "locked");
    assert_eq!(by(GRADY)["outcome"], "partial");
}

#[test]
fn a_guest_is_blocked_through_the_group_and_members_and_guests_lock_without_it() {
    let guest = "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    let t = tenant(true, true);
    let run = t.block_json(&[guest]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    assert_eq!(status_of(&u, "block_sign_in"), "done");
    assert_eq!(members(&t), [ids::PRADEEP]);
    assert_eq!(status_of(&u, "disable_onprem_account"), "skipped");

    // No block group: disabling the account in this tenant still stops their sign-in here.
    let t = tenant(false, false);
    let run = t.block_json(&["adele@contoso.com", guest]);
    run.assert_code(0);
    for u in run.lines() {
        assert_eq!(u["outcome"], "locked", "{u:#}");
        let block = step(&u, "block_sign_in");
        assert_eq!(block["status"], "skipped");
        assert_eq!(
            block["detail"],
            "no Conditional Access block group: run lockdown setup"
        );
    }
}

#[test]
fn already_a_member_is_already_and_the_group_and_policy_are_read_once_per_run() {
    let t = tenant(true, true);
    t.emu
        .add_group_member(ids::BLOCK_GROUP, "adele@contoso.com");
    let run = t.block_json(&["adele@contoso.com", "alex@contoso.com", "diego@contoso.com"]);
    run.assert_code(0);
    let lines = run.lines();
    let adele = lines
        .iter()
        .find(|l| l["userPrincipalName"] == "adele@contoso.com")
        .unwrap();
    assert_eq!(status_of(adele, "block_sign_in"), "already", "{adele:#}");
    assert_eq!(members(&t).len(), 3);
    let reads = |path: &str| {
        t.emu
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count()
    };
    assert_eq!(reads("/v1.0/groups"), 1);
    assert_eq!(reads("/v1.0/identity/conditionalAccess/policies"), 1);
}

#[test]
fn one_user_still_takes_two_round_trips_in_a_tenant_with_the_group() {
    let t = tenant(true, true);
    let run = t.block_json(&["adele@contoso.com"]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    let calls = calls(&t);
    assert_eq!(
        calls,
        ["POST /v1.0/$batch", "POST /v1.0/$batch"],
        "{calls:#?}"
    );
    // The group and its policy rode with the user's first read.
    let first: Vec<String> = t
        .emu
        .requests()
        .iter()
        .skip(1)
        .take_while(|r| r.in_batch)
        .map(|r| r.path.clone())
        .collect();
    assert!(first.contains(&"/v1.0/groups".to_owned()), "{first:#?}");
    assert!(first.contains(&"/v1.0/identity/conditionalAccess/policies".to_owned()));
}

#[test]
fn guard_rails_hold_for_the_group() {
    let t = tenant(true, true);
    // Protected: refused before any write, not added.
    let run = t.block_json(&["--protect", GRADY, GRADY]);
    run.assert_code(1);
    assert_eq!(run.one()["outcome"], "refused");
    // The signed-in account: refused too.
    let run = t.block_json(&["admin@contoso.com"]);
    run.assert_code(1);
    assert_eq!(run.one()["outcome"], "refused");
    // Excluded from the policy (setup's --exclude): never added to the group.
    let run = t.block_json(&["breakglass@contoso.com"]);
    let u = run.one();
    let block = step(&u, "block_sign_in");
    assert_eq!(block["status"], "skipped", "{u:#}");
    assert!(block["detail"].as_str().unwrap().contains("excluded"));
    assert!(members(&t).is_empty(), "{:?}", members(&t));
    assert!(t.emu.on_premises_account(GRADY).unwrap().actions.is_empty());
}

#[test]
fn dry_run_lists_the_exact_requests() {
    let t = tenant(true, true);
    let run = t
        .lockdown()
        .args(["block", "--dry-run", "-o", "json", GRADY])
        .run();
    run.assert_code(0);
    let u = run.one();
    let block = step(&u, "block_sign_in");
    assert_eq!(block["status"], "planned");
    assert_eq!(
        block["requests"][0],
        format!(
            "POST /v1.0/groups/{}/members/$ref {{\"@odata.id\":\"https://graph.microsoft.com/v1.0/directoryObjects/{}\"}}",
            ids::BLOCK_GROUP,
            ids::GRADY
        )
    );
    let onprem = step(&u, "disable_onprem_account");
    assert_eq!(onprem["status"], "planned");
    let detail = onprem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "GET /v1.0/security/identities/identityAccounts?$filter=onPremisesSecurityIdentifier%20eq%20'{}'",
            ids::GRADY_SID
        )),
        "{detail}"
    );
    assert!(detail.contains("forcePasswordReset"), "{detail}");
    assert!(t.writes().is_empty());
    assert!(members(&t).is_empty());
}

#[test]
fn unblock_undoes_both_routes() {
    let t = tenant(true, true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block.jsonl");
    t.lockdown()
        .args(["block", "--yes", "-o", "json", "--report"])
        .arg_path(&path)
        .args([GRADY])
        .run()
        .assert_code(0);
    assert_eq!(members(&t), [ids::GRADY]);
    let report = std::fs::read_to_string(&path).unwrap();
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "--from-report", "-"])
        .stdin(&report)
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "restored", "{u:#}");
    assert_eq!(status_of(&u, "unblock_sign_in"), "done");
    assert_eq!(status_of(&u, "enable_onprem_account"), "done");
    assert!(members(&t).is_empty());
    let ad = t.emu.on_premises_account(GRADY).unwrap();
    assert_eq!(ad.actions.last().map(String::as_str), Some("enable"));
    // Removing a user who is no longer a member is `already`.
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "--from-report", "-"])
        .stdin(&report)
        .run();
    assert_eq!(status_of(&run.one(), "unblock_sign_in"), "already");
}

#[test]
fn check_reports_the_group_its_policy_and_defender_for_identity() {
    let t = tenant(true, true);
    let run = t.lockdown().args(["check", "-o", "json", GRADY]).run();
    run.assert_code(0);
    let lines = run.lines();
    let caller = &lines[0]["caller"];
    let group = &caller["blockGroup"];
    assert_eq!(group["found"], true, "{caller:#}");
    assert_eq!(group["id"], ids::BLOCK_GROUP);
    assert_eq!(group["policy"]["state"], "enabled");
    assert_eq!(group["policy"]["includesGroup"], true);
    assert_eq!(group["policy"]["enforcing"], true);
    assert_eq!(group["policy"]["excludeUsers"][0], ids::BREAKGLASS);
    let caller_steps = caller["steps"].as_array().unwrap();
    let may_add = caller_steps
        .iter()
        .find(|s| s["step"] == "block_sign_in")
        .unwrap();
    assert_eq!(may_add["status"], "ok");
    assert!(may_add["permission"]
        .as_str()
        .unwrap()
        .contains("GroupMember.ReadWrite.All"));
    let grady = &lines[1];
    assert_eq!(grady["outcome"], "ok", "{grady:#}");
    assert_eq!(grady["onPremisesSecurityIdentifier"], ids::GRADY_SID);
    for s in ["block_sign_in", "disable_onprem_account"] {
        let line = grady["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["step"] == s)
            .unwrap();
        assert_eq!(line["status"], "ok", "{s}: {grady:#}");
    }
    // In text, the caller's line says what it found.
    let run = t.lockdown().args(["check"]).run();
    assert!(
        run.stdout
            .contains("Conditional Access block group: lockdown-blocked"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("enabled, group included, 1 excluded account(s)"));

    // A caller without Defender for Identity's permissions: expected to fail for grady only.
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: [
            "User.Read.All",
            "User.EnableDisableAccount.All",
            "User-PasswordProfile.ReadWrite.All",
            "User.RevokeSessions.All",
            "Directory.Read.All",
            "GroupMember.ReadWrite.All",
            "Policy.Read.All",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        directory_roles: vec!["User Administrator".into()],
    });
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args([
            "check",
            "-o",
            "json",
            "--skip",
            "devices",
            GRADY,
            "adele@contoso.com",
        ])
        .run();
    let lines = run.lines();
    let target = |upn: &str| {
        lines
            .iter()
            .find(|l| l["userPrincipalName"] == upn)
            .unwrap()
            .clone()
    };
    let onprem = |l: &Value| {
        l["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == "disable_onprem_account")
            .unwrap()
            .clone()
    };
    assert_eq!(onprem(&target(GRADY))["status"], "missing");
    assert!(onprem(&target(GRADY))["reason"]
        .as_str()
        .unwrap()
        .contains("SecurityIdentitiesAccount.Read.All"));
    assert_eq!(onprem(&target("adele@contoso.com"))["status"], "ok");
}

#[test]
fn setup_creates_both_once_and_a_second_run_writes_nothing() {
    let t = tenant(false, false);
    let run = t
        .lockdown()
        .args(["setup", "-o", "json", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(0);
    let out = run.one();
    assert_eq!(out["group"]["status"], "done", "{out:#}");
    assert_eq!(out["policy"]["status"], "done", "{out:#}");
    let groups = t.emu.groups();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.display_name, "lockdown: blocked accounts");
    assert_eq!(g.mail_nickname, "lockdown-blocked");
    assert!(g.security_enabled && !g.mail_enabled);
    assert!(g
        .description
        .as_deref()
        .unwrap()
        .contains("Conditional Access"));
    let p = policy(&t);
    assert_eq!(p["state"], "enabled");
    assert_eq!(p["conditions"]["users"]["includeGroups"][0], g.id.as_str());
    assert_eq!(p["conditions"]["users"]["excludeUsers"][0], ids::BREAKGLASS);
    assert_eq!(
        p["conditions"]["applications"]["includeApplications"][0],
        "All"
    );
    assert_eq!(p["conditions"]["clientAppTypes"][0], "all");
    assert_eq!(p["grantControls"]["builtInControls"][0], "block");

    // Idempotent: found, nothing written.
    t.emu.clear_requests();
    let run = t
        .lockdown()
        .args(["setup", "-o", "json", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(0);
    let out = run.one();
    assert_eq!(out["group"]["status"], "already");
    assert_eq!(out["policy"]["status"], "already");
    assert!(t.writes().is_empty(), "{:?}", t.writes());

    // Now the step finds and uses it.
    let run = t.block_json(&[GRADY]);
    assert_eq!(status_of(&run.one(), "block_sign_in"), "done");
}

#[test]
fn setup_report_only_dry_run_and_the_exclusion_rule() {
    let t = tenant(false, false);
    // No exclusion: refused (usage), unless on purpose.
    let run = t.lockdown().args(["setup"]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("--exclude"), "{}", run.stderr);
    // An exclusion that is no user: refused before any write.
    let run = t
        .lockdown()
        .args(["setup", "--exclude", "nobody@contoso.com"])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("nobody@contoso.com"), "{}", run.stderr);
    assert!(t.writes().is_empty());

    // Dry run: the exact requests, nothing written.
    let run = t
        .lockdown()
        .args([
            "setup",
            "--dry-run",
            "-o",
            "json",
            "--exclude",
            "breakglass@contoso.com",
        ])
        .run();
    run.assert_code(0);
    let out = run.one();
    assert_eq!(out["group"]["status"], "planned");
    let group_req = out["group"]["requests"][0].as_str().unwrap();
    assert!(group_req.starts_with("POST /v1.0/groups {"), "{group_req}");
    assert!(group_req.contains("\"mailNickname\":\"lockdown-blocked\""));
    let policy_req = out["policy"]["requests"][0].as_str().unwrap();
    assert!(
        policy_req.starts_with("POST /v1.0/identity/conditionalAccess/policies {"),
        "{policy_req}"
    );
    assert!(policy_req.contains(ids::BREAKGLASS));
    assert!(t.writes().is_empty());
    assert!(t.emu.groups().is_empty());

    let run = t
        .lockdown()
        .args(["setup", "--report-only", "--no-exclusions"])
        .run();
    run.assert_code(0);
    let p = policy(&t);
    assert_eq!(p["state"], "enabledForReportingButNotEnforced");
    assert_eq!(
        p["conditions"]["users"]["excludeUsers"],
        serde_json::json!([])
    );
}

#[test]
fn a_changed_policy_is_reported_and_repaired_only_with_force() {
    let t = tenant(true, false);
    t.emu
        .edit_conditional_access_policy(ids::BLOCK_POLICY, |p| {
            p.insert("state".into(), "disabled".into());
            p["conditions"]["users"]["excludeUsers"] = serde_json::json!([]);
        });
    let run = t
        .lockdown()
        .args(["setup", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(1);
    assert!(run.stdout.contains("changed since setup"), "{}", run.stdout);
    assert!(
        run.stdout.contains("its state is disabled"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("exclusions dropped"), "{}", run.stdout);
    assert!(run.stdout.contains("--force"));
    assert!(t.writes().is_empty());
    assert_eq!(policy(&t)["state"], "disabled");

    let run = t
        .lockdown()
        .args(["setup", "--force", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(0);
    assert!(run.stdout.contains("repaired"), "{}", run.stdout);
    let p = policy(&t);
    assert_eq!(p["state"], "enabled");
    assert_eq!(p["conditions"]["users"]["excludeUsers"][0], ids::BREAKGLASS);
    let writes = t.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
}

#[test]
fn setup_without_entra_id_p1_says_which_licence_is_missing() {
    let t = Tenant::with(EmulatorConfig {
        entra_id: EntraIdPlan::Free,
        ..EmulatorConfig::default()
    });
    let run = t
        .lockdown()
        .args(["setup", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(1);
    assert!(
        run.stderr.contains("Microsoft Entra ID P1"),
        "{}",
        run.stderr
    );
    assert!(t.writes().is_empty());

    // When the licences cannot be read, Graph's refusal of the policy says it instead.
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: [
            "User.Read.All",
            "Group.Create",
            "GroupMember.Read.All",
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        directory_roles: Vec::new(),
    });
    let run = t
        .bare()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["setup", "--exclude", "breakglass@contoso.com"])
        .run();
    run.assert_code(1);
    assert!(run.stdout.contains("group:  created"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Microsoft Entra ID P1"),
        "{}",
        run.stdout
    );
    assert!(t.emu.conditional_access_policies().is_empty());
}

#[test]
fn other_clouds_skip_defender_for_identity_with_the_reason() {
    let t = tenant(true, true);
    let run = t.block_json(&["--cloud", "usgov", GRADY]);
    let u = run.one();
    let onprem = step(&u, "disable_onprem_account");
    assert_eq!(onprem["status"], "skipped", "{u:#}");
    assert!(onprem["detail"]
        .as_str()
        .unwrap()
        .contains("global cloud only"));
    assert!(t.emu.on_premises_account(GRADY).unwrap().actions.is_empty());
    // The group still blocks its cloud sign-in now.
    assert_eq!(u["outcome"], "locked");
}

/// `--keep-enabled` is for an account that must keep working: it stays enabled and out of the
/// block group, whose policy would block every sign-in; its password is still reset and its
/// sessions revoked.
#[test]
fn keep_enabled_leaves_the_account_out_of_the_block_group_too() {
    let t = tenant(true, true);
    let run = t.block_json(&["adele@contoso.com", "--keep-enabled"]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    for name in ["disable_account", "block_sign_in"] {
        let s = step(&u, name);
        assert_eq!(s["status"], "skipped", "{u:#}");
        assert_eq!(s["detail"], "skipped by --keep-enabled", "{u:#}");
    }
    assert_eq!(step(&u, "reset_password")["status"], "done");
    assert_eq!(step(&u, "revoke_sessions")["status"], "done");
    assert!(t.user("adele@contoso.com").account_enabled);
    assert!(members(&t).is_empty(), "{:?}", members(&t));
}
