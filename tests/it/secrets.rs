//! Tokens and generated passwords never reach stdout or stderr, at any verbosity.

use crate::support::Tenant;

#[test]
fn nothing_secret_at_the_most_verbose_level() {
    for (verbosity, rust_log) in [("-vv", None), ("-v", Some("trace"))] {
        let t = Tenant::start();
        let mut cmd = t.lockdown();
        cmd.args([
            "block",
            "--yes",
            verbosity,
            "-o",
            "json",
            "adele@contoso.com",
            "grady@contoso.com",
            "nobody@contoso.com",
        ]);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let run = cmd.run();
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.len() > 200, "expected logs: {all}");
        // The run did set a password, so the check below has something to find.
        assert!(
            t.user("adele@contoso.com").password.is_some(),
            "password set"
        );
        t.assert_nothing_secret(&all);
    }
}

#[test]
fn nothing_secret_on_retry_and_fault_paths_or_in_the_report() {
    use lockdown_emulator::{EmulatorConfig, FaultKind, FaultRule};
    let t = Tenant::with(EmulatorConfig {
        faults: vec![
            FaultRule {
                times: Some(2),
                ..FaultRule::always(FaultKind::Throttle {
                    retry_after_secs: 1,
                })
            },
            FaultRule {
                times: Some(2),
                ..FaultRule::always(FaultKind::DropConnection)
            },
            FaultRule {
                times: Some(2),
                ..FaultRule::always(FaultKind::MalformedJson)
            },
            FaultRule {
                method: Some("PATCH".into()),
                probability: 0.3,
                ..FaultRule::always(FaultKind::ServiceUnavailable {
                    retry_after_secs: None,
                })
            },
        ],
        ..EmulatorConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.jsonl");
    let run = t
        .lockdown()
        .env("RUST_LOG", "trace")
        .args([
            "block",
            "--yes",
            "-vv",
            "-o",
            "json",
            "--max-retries",
            "3",
            "--report",
        ])
        .arg_path(&report)
        .args([
            "adele@contoso.com",
            "grady@contoso.com",
            "johanna@contoso.com",
            "nobody@contoso.com",
        ])
        .run();
    let written = std::fs::read_to_string(&report).unwrap();
    let all = format!("{}{}{written}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("retrying"),
        "the fault paths ran: {}",
        run.stderr
    );
    t.assert_nothing_secret(&all);
    // Not a terminal: no progress line, carriage returns or escape codes.
    assert!(!run.stderr.contains('\r') && !run.stderr.contains('\u{1b}'));
}
