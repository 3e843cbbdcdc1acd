//! What a new user trips over (issue 18): a selection that locks nothing down, an unblock that
//! cannot let the user in, items someone else turned back on, a file that is not a report, one
//! name per step, `--tap` before a user, help that fits each command, and input mistakes.

use serde_json::{json, Value};

use crate::support::{status_of, step, Cmd, Tenant};

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

/// `PATCH {path}` with `body` as the tenant's admin: someone else's change, made outside
/// lockdown.
fn patch_as_admin(t: &Tenant, path: &str, body: Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/v1.0{path}", t.emu.url());
    let status = rt.block_on(async {
        reqwest::Client::new()
            .patch(&url)
            .bearer_auth(t.emu.admin_token())
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success(), "PATCH {path}: {status}");
}

#[test]
fn a_selection_that_leaves_out_every_containment_step_is_refused_before_anything_is_sent() {
    let t = Tenant::start();
    for args in [
        &["--skip", "account,sessions,password,devices"][..],
        &[
            "--keep-enabled",
            "--skip",
            "revoke_sessions",
            "--skip-password",
        ][..],
        &["--skip", "account,sessions,password", "--dry-run"][..],
    ] {
        let run = t
            .lockdown()
            .args(["block", "adele@contoso.com", "--yes"])
            .args(args)
            .run();
        run.assert_code(2);
        assert!(
            run.stderr
                .contains("nothing selected would stop this account signing in"),
            "{args:?}: {}",
            run.stderr
        );
        // The hint names the containment steps, from the registry.
        assert!(
            run.stderr.contains("disable_account (account)")
                && run.stderr.contains("reset_password (password)"),
            "{}",
            run.stderr
        );
    }
    assert!(t.emu.requests().is_empty(), "nothing was sent");
    assert!(t.user("adele@contoso.com").account_enabled);
    // One containment step is enough.
    let run = t.block_json(&["adele@contoso.com", "--skip", "account,password"]);
    run.assert_code(0);
    assert_eq!(status_of(&run.one(), "revoke_sessions"), "done");
}

/// The sandbox walk-through: block adele, then block her again with `--incident --report`, then
/// unblock from that report with `--tap`. The second report shows her already disabled, so the
/// unblock leaves her disabled, says so, issues no pass, and is partial.
#[test]
fn an_unblock_that_leaves_the_account_disabled_says_so_issues_no_pass_and_is_partial() {
    let t = Tenant::start();
    t.block_json(&["adele@contoso.com"]).assert_code(0);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.jsonl");
    t.lockdown()
        .args([
            "block",
            "adele@contoso.com",
            "--yes",
            "--incident",
            "--report",
        ])
        .arg_path(&report)
        .run()
        .assert_code(0);
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "--tap", "--from-report"])
        .arg_path(&report)
        .run();
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let account = step(&u, "enable_account");
    assert_eq!(account["status"], "skipped");
    assert_eq!(
        account["detail"],
        "disabled before this lockdown: left disabled; `lockdown unblock adele@contoso.com` enables it"
    );
    let tap = step(&u, "issue_tap");
    assert_eq!(tap["status"], "skipped", "{u:#}");
    assert!(
        tap["detail"]
            .as_str()
            .unwrap()
            .contains("a pass would not let the user in"),
        "{tap:#}"
    );
    assert!(tap.get("temporaryAccessPass").is_none());
    assert!(t.emu.temporary_access_pass("adele@contoso.com").is_none());
    assert!(
        !t.user("adele@contoso.com").account_enabled,
        "left disabled"
    );
    // The undoable rest was undone.
    assert_eq!(status_of(&u, "enable_inbox_rules"), "done");

    // As text, the line says so too.
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "--dry-run", "--tap", "--from-report"])
        .arg_path(&report)
        .run();
    assert!(
        run.stdout
            .contains("disabled before this lockdown: left disabled"),
        "{}",
        run.stdout
    );

    // `lockdown unblock USER`, as the line says, enables it; then a pass is issued.
    let run = t
        .lockdown()
        .args([
            "unblock",
            "--yes",
            "-o",
            "json",
            "--tap",
            "adele@contoso.com",
        ])
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(status_of(&u, "enable_account"), "done");
    assert_eq!(status_of(&u, "issue_tap"), "done");
    assert!(t.user("adele@contoso.com").account_enabled);
}

#[test]
fn what_someone_turned_back_on_after_the_lockdown_is_changed_since_not_already() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.jsonl");
    t.lockdown()
        .args([
            "block",
            "adele@contoso.com",
            "--yes",
            "--incident",
            "--report",
        ])
        .arg_path(&report)
        .run()
        .assert_code(0);
    let adele = t.user("adele@contoso.com");
    // Someone else turns the account, a device and the rule back on.
    patch_as_admin(
        &t,
        &format!("/users/{}", adele.id),
        json!({"accountEnabled": true}),
    );
    let device = &adele.device_ids[0];
    patch_as_admin(
        &t,
        &format!("/devices/{device}"),
        json!({"accountEnabled": true}),
    );
    let rule = t
        .emu
        .inbox_rules("adele@contoso.com")
        .unwrap()
        .into_iter()
        .find(|r| r.display_name == "Invoices")
        .unwrap();
    patch_as_admin(
        &t,
        &format!(
            "/users/{}/mailFolders/inbox/messageRules/{}",
            adele.id, rule.id
        ),
        json!({"isEnabled": true}),
    );
    t.emu.clear_requests();

    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "--from-report"])
        .arg_path(&report)
        .run();
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let changed = |detail: &Value| {
        detail
            .as_str()
            .is_some_and(|d| d.starts_with("changed since the lockdown (now on)"))
    };
    let account = step(&u, "enable_account");
    assert_eq!(account["status"], "skipped");
    assert!(changed(&account["detail"]), "{account:#}");
    let devices = step(&u, "enable_devices");
    let item = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == device.as_str())
        .unwrap();
    assert_eq!(item["status"], "skipped", "{devices:#}");
    assert!(changed(&item["reason"]), "{item:#}");
    let rules = step(&u, "enable_inbox_rules");
    let item = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["displayName"] == "Invoices")
        .unwrap();
    assert_eq!(item["status"], "skipped", "{rules:#}");
    assert!(changed(&item["reason"]), "{item:#}");
    // Nothing of those was written again.
    assert!(
        t.writes()
            .iter()
            .all(|w| !w.path.contains(device.as_str()) && !w.path.contains(&rule.id)),
        "{:#?}",
        t.writes()
    );
}

#[test]
fn a_file_with_no_report_line_is_not_a_block_report() {
    let t = Tenant::start();
    // The text output of a block, instead of its -o json.
    let text = t
        .lockdown()
        .args(["block", "--yes", "adele@contoso.com"])
        .run()
        .stdout
        .clone();
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("text.txt", text.as_str()),
        (
            "other.json",
            "{\"target\": \"adele@contoso.com\"}\n[1, 2]\n",
        ),
        ("empty.jsonl", "\n"),
    ] {
        let file = write(&dir, name, content);
        let run = t
            .lockdown()
            .args(["unblock", "--yes", "--from-report", &file])
            .run();
        run.assert_code(2);
        assert!(
            run.stderr
                .contains("is not a lockdown block report (block -o json or --report writes one)"),
            "{name}: {}",
            run.stderr
        );
        if name != "empty.jsonl" {
            let first = content.lines().next().unwrap();
            assert!(
                run.stderr.contains(&format!("line 1: {first}")),
                "{name}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn tap_takes_its_minutes_only_after_an_equals_sign() {
    let t = Tenant::start();
    t.block_json(&["adele@contoso.com"]).assert_code(0);
    let run = t
        .lockdown()
        .args([
            "unblock",
            "--tap",
            "adele@contoso.com",
            "--yes",
            "-o",
            "json",
        ])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["target"], "adele@contoso.com");
    assert_eq!(
        t.emu
            .temporary_access_pass("adele@contoso.com")
            .unwrap()
            .lifetime_in_minutes,
        60
    );
    // `--tap 90` is a user named 90, not minutes.
    let run = Cmd::bare()
        .args(["unblock", "--tap", "90", "--dry-run"])
        .run();
    run.assert_code(2);
    let run = Cmd::bare()
        .args(["unblock", "--tap=5", "x@contoso.com"])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("10..=43200"), "{}", run.stderr);
}

#[test]
fn each_step_is_named_once_with_its_short_alias() {
    let help = Cmd::bare().args(["block", "--help"]).run();
    for label in [
        "disable_account (account)",
        "reset_password (password)",
        "remove_auth_methods (auth-methods)",
        "disable_inbox_rules (inbox-rules)",
    ] {
        assert_eq!(
            help.stdout.matches(label).count(),
            1,
            "{label}: {}",
            help.stdout
        );
    }
    assert!(!help.stdout.contains("possible values: disable_account"));
    // Completions: one value per step, its alias as the description.
    let zsh = Cmd::bare().args(["completions", "zsh"]).run();
    assert!(
        zsh.stdout
            .contains("remove_auth_methods\\:\"auth-methods\""),
        "{}",
        zsh.stdout
    );
    let fish = Cmd::bare().args(["completions", "fish"]).run();
    assert!(fish.stdout.contains("remove_auth_methods\\t'auth-methods'"));
    assert!(!fish.stdout.contains("\"auth-methods\\t"));
    // Errors list the steps the same way.
    let run = Cmd::bare()
        .args(["block", "--with", "nonsense", "x@contoso.com"])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("remove_auth_methods (auth-methods)")
            && !run.stderr.contains("disable_account"),
        "{}",
        run.stderr
    );
}

#[test]
fn skip_and_with_of_one_step_conflict_and_a_skip_wins_over_incident() {
    let run = Cmd::bare()
        .args([
            "block",
            "--skip",
            "devices",
            "--with",
            "disable_devices",
            "x@contoso.com",
        ])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains(
            "--skip devices and --with disable_devices conflict: both name the step disable_devices (devices)"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("similar value"), "{}", run.stderr);

    let t = Tenant::start();
    let run = t
        .lockdown()
        .args([
            "block",
            "--dry-run",
            "-o",
            "json",
            "--incident",
            "--skip",
            "auth-methods",
        ])
        .args(["adele@contoso.com"])
        .run();
    run.assert_code(0);
    let u = run.one();
    let s = step(&u, "remove_auth_methods");
    assert_eq!(s["status"], "skipped");
    assert_eq!(s["detail"], "skipped by --skip remove_auth_methods");
    assert_eq!(status_of(&u, "disable_inbox_rules"), "planned");
    assert!(t.writes().is_empty());
}

#[test]
fn each_command_shows_only_the_options_that_apply_to_it() {
    let connection = [
        "--auth",
        "--cloud",
        "--graph-url",
        "--sandbox",
        "--timeout",
        "--max-retries",
    ];
    for command in ["completions", "man", "sandbox"] {
        let run = Cmd::bare().args([command, "--help"]).run();
        run.assert_code(0);
        for flag in connection
            .iter()
            .chain(&["--output", "--verbose", "--no-batch"])
        {
            assert!(!run.stdout.contains(flag), "{command} --help shows {flag}");
        }
    }
    for command in ["status", "check", "watch"] {
        let run = Cmd::bare().args([command, "--help"]).run();
        for flag in connection.iter().chain(&["--output"]) {
            assert!(run.stdout.contains(flag), "{command} --help lacks {flag}");
        }
        assert!(
            !run.stdout.contains("--no-batch"),
            "{command} sends no batch"
        );
    }
    let unblock = Cmd::bare().args(["unblock", "--help"]).run();
    assert!(
        unblock.stdout.contains("--tap[=<MINUTES>]"),
        "{}",
        unblock.stdout
    );
    // One default for --concurrency, shared with block.
    let block = Cmd::bare().args(["block", "--help"]).run();
    for help in [&unblock.stdout, &block.stdout] {
        let at = help.find("--concurrency <N>").expect("--concurrency");
        let rest = &help[at..];
        let end = rest.find("\n\n  ").unwrap_or(rest.len());
        assert!(rest[..end].contains("1..=256"), "{}", &rest[..end]);
        assert!(rest[..end].contains("[default: 128]"), "{}", &rest[..end]);
    }
    // One placeholder style: a word in capitals for each value.
    for help in [&unblock.stdout, &block.stdout] {
        for old in ["<OUTPUT>", "<AUTH>", "<DEVICES_PER_USER>", "<LATENCY_MS>"] {
            assert!(!help.contains(old), "{old}");
        }
    }
    // The options still work before the command's name, as scripts wrote them.
    let run = Cmd::bare()
        .args(["--sandbox", "-o", "json", "status", "adele@contoso.com"])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["userPrincipalName"], "adele@contoso.com");
}

#[test]
fn the_man_page_has_exit_status_and_environment() {
    let run = Cmd::bare().args(["man"]).run();
    run.assert_code(0);
    let page = &run.stdout;
    let exit = page.find(".SH \"EXIT STATUS\"").expect("EXIT STATUS");
    let env = page.find(".SH ENVIRONMENT").expect("ENVIRONMENT");
    for code in ["0", "1", "2", "3", "130"] {
        assert!(
            page[exit..env].contains(&format!("\\fB{code}\\fR")),
            "exit status {code}"
        );
    }
    for var in [
        "LOCKDOWN_ACCESS_TOKEN",
        "AZURE_CLIENT_SECRET",
        "LOCKDOWN_GRAPH_URL",
        "RUST_LOG",
    ] {
        assert!(page[env..].contains(var), "{var}");
    }
    // The shared options are described once, not under each command.
    assert_eq!(page.matches("\\-\\-max\\-retries").count(), 1, "{page}");
}

#[test]
fn input_mistakes_are_named_for_what_they_are() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        &dir,
        "users.csv",
        "name,mail\nAdele Vance,adele@contoso.com\n",
    );
    let run = t.lockdown().args(["block", "--yes", "--from", &csv]).run();
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("looks like a CSV header without a user column")
            && run
                .stderr
                .contains("the accepted column names are userPrincipalName, UPN, id or objectId"),
        "{}",
        run.stderr
    );
    let run = t
        .lockdown()
        .args(["block", "--yes", "adele@contoso.com,diego@contoso.com"])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("separate users with spaces, or read them from a file with --from FILE"),
        "{}",
        run.stderr
    );
    let run = t.lockdown().args(["block", "--yes", ""]).run();
    run.assert_code(2);
    assert!(run.stderr.contains("empty user name"), "{}", run.stderr);
    // Among valid users, an empty one is its own failed line.
    let run = t.block_json(&["", "diego@contoso.com"]);
    run.assert_code(1);
    let lines = run.lines();
    assert!(lines
        .iter()
        .any(|l| l["outcome"] == "failed" && l["reason"] == "empty user name"));
    assert!(t.emu.requests().iter().all(|r| !r.path.contains("adele")));
    // As text, the empty argument is shown as one.
    let run = t
        .lockdown()
        .args(["block", "--yes", "", "alex@contoso.com"])
        .run();
    assert!(
        run.stdout.contains("\"\": failed\n  empty user name"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_sandbox_of_no_users_is_refused() {
    let run = Cmd::bare().args(["sandbox", "--users", "0"]).run();
    run.assert_code(2);
    for args in [["--fault-rate", "1.5"], ["--time-scale", "0"]] {
        let run = Cmd::bare().args(["sandbox"]).args(args).run();
        run.assert_code(2);
    }
}
