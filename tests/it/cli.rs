//! Command-line contract: shared options before or after the command, usage errors, the
//! sandbox.

use crate::support::{status_of, Cmd, Tenant};

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let t = Tenant::start();
    let before = t
        .lockdown()
        .args(["-o", "json", "block", "--yes", "diego@contoso.com"])
        .run();
    before.assert_code(0);
    assert_eq!(before.one()["outcome"], "locked");
    let t = Tenant::start();
    let after = t
        .lockdown()
        .args([
            "block",
            "diego@contoso.com",
            "--yes",
            "--output",
            "json",
            "-v",
        ])
        .run();
    after.assert_code(0);
    assert_eq!(after.one()["outcome"], "locked");
}

#[test]
fn bad_flags_are_usage_errors() {
    let run = Cmd::bare().args(["block", "--no-such-flag"]).run();
    run.assert_code(2);
    let run = Cmd::bare()
        .args(["-o", "yaml", "status", "x@contoso.com"])
        .run();
    run.assert_code(2);
    let run = Cmd::bare().args(["block", "--yes"]).run();
    run.assert_code(2);
}

#[test]
fn a_malformed_user_is_reported_and_valid_ones_still_run() {
    let t = Tenant::start();
    let run = t.block_json(&["not a user", "diego@contoso.com"]);
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .any(|l| l["target"] == "not a user" && l["outcome"] == "failed"));
    assert!(lines
        .iter()
        .any(|l| l["target"] == "diego@contoso.com" && l["outcome"] == "locked"));
}

#[test]
fn only_malformed_users_is_exit_2_with_nothing_sent() {
    let run = Cmd::bare()
        .env("LOCKDOWN_ACCESS_TOKEN", "x")
        .args(["block", "--yes", "a@@b", "../x"])
        .run();
    run.assert_code(2);
}

#[test]
fn sandbox_mode_needs_no_tenant_and_no_credentials() {
    let run = Cmd::bare()
        .args([
            "--sandbox",
            "block",
            "adele@contoso.com",
            "--yes",
            "-o",
            "json",
        ])
        .run();
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked");
    assert_eq!(status_of(&u, "verify"), "done");
    assert!(run.stderr.contains("sandbox"));
}

#[test]
fn help_lists_the_commands() {
    let run = Cmd::bare().args(["--help"]).run();
    run.assert_code(0);
    for word in ["block", "status", "sandbox", "lockdown COMMAND --help"] {
        assert!(run.stdout.contains(word), "{word} missing from help");
    }
    let run = Cmd::bare().args(["block", "--help"]).run();
    for word in [
        "--yes",
        "--dry-run",
        "--keep-enabled",
        "--skip <STEP>",
        "--with <STEP>",
        "reset_password",
        "--output",
        "--auth",
        "--cloud",
        "--graph-url",
    ] {
        assert!(run.stdout.contains(word), "{word} missing from block help");
    }
    // The per-step flags of old still work, but are no longer advertised.
    for word in ["--skip-password", "--skip-sessions", "--skip-devices"] {
        assert!(!run.stdout.contains(word), "{word} still in block help");
    }
}

#[test]
fn sandbox_server_prints_what_to_export_and_serves_until_interrupted() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut server = Command::new(env!("CARGO_BIN_EXE_lockdown"))
        .env_clear()
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut value = |name: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(&format!("export {name}="))
            .unwrap_or_else(|| panic!("expected {name}: {line}"))
            .to_owned()
    };
    let url = value("LOCKDOWN_GRAPH_URL");
    let token = value("LOCKDOWN_ACCESS_TOKEN");
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let run = Cmd::bare()
        .env("LOCKDOWN_GRAPH_URL", &url)
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["block", "--yes", "-o", "json", "user33@contoso.com"])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    // The state lives in the server: a second look sees the account disabled.
    let run = Cmd::bare()
        .env("LOCKDOWN_GRAPH_URL", &url)
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["status", "-o", "json", "user33@contoso.com"])
        .run();
    assert_eq!(run.one()["accountEnabled"], false);
    Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    // Stopped by Ctrl-C, as every interrupted command: 130.
    assert_eq!(server.wait().unwrap().code(), Some(130));
}

#[test]
fn completions_are_printed_for_each_shell() {
    let run = Cmd::bare().args(["completions", "bash"]).run();
    run.assert_code(0);
    assert!(run.stdout.contains("lockdown"), "{}", run.stdout);
    assert!(run.stdout.contains("--dry-run"), "block's flags complete");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let run = Cmd::bare().args(["completions", shell]).run();
        run.assert_code(0);
        assert!(run.stdout.contains("lockdown"), "{shell}: {}", run.stdout);
    }
    let run = Cmd::bare().args(["completions", "tcsh"]).run();
    run.assert_code(2);
}

#[test]
fn the_man_page_is_roff_with_every_command() {
    let run = Cmd::bare().args(["man"]).run();
    run.assert_code(0);
    assert!(run.stdout.starts_with(".TH lockdown 1"), "{}", run.stdout);
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH COMMANDS",
        ".SH \"LOCKDOWN BLOCK OPTIONS\"",
        ".SH \"LOCKDOWN STATUS OPTIONS\"",
        ".SH \"OUTPUT OPTIONS\"",
        ".SH \"CONNECTION OPTIONS\"",
    ] {
        assert!(run.stdout.contains(section), "no {section}: {}", run.stdout);
    }
    assert!(run.stdout.contains("dry\\-run"), "block's flags are in it");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn shared_options_come_after_the_commands_own_in_its_help() {
    for command in ["block", "unblock"] {
        let run = Cmd::bare().args([command, "--help"]).run();
        run.assert_code(0);
        let own = run.stdout.find("\nOptions:\n").expect("an Options heading");
        let output = run
            .stdout
            .find("\nOutput options:\n")
            .expect("an Output options heading");
        let connection = run
            .stdout
            .find("\nConnection options:\n")
            .expect("a Connection options heading");
        assert!(own < output && output < connection, "{}", run.stdout);
        for flag in ["--output", "--verbose"] {
            assert!(
                run.stdout[output..connection].contains(flag),
                "{command}: {flag} not under Output options"
            );
        }
        for flag in [
            "--auth",
            "--cloud",
            "--graph-url",
            "--sandbox",
            "--timeout",
            "--max-retries",
            "--no-batch",
        ] {
            assert!(
                run.stdout[connection..].contains(flag),
                "{command}: {flag} not under Connection options"
            );
        }
        assert!(!run.stdout[own..output].contains("--timeout"));
    }
}
