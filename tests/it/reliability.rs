//! Transient failures: every fault class the emulator injects, and the retry policy's bounds.

use std::time::Duration;

use lockdown_emulator::{EmulatorConfig, FaultKind, FaultRule};

use crate::support::{status_of, step, Tenant};

fn rule(kind: FaultKind, method: &str, path: &str, times: usize) -> FaultRule {
    FaultRule {
        kind,
        method: Some(method.into()),
        path_contains: Some(path.into()),
        probability: 1.0,
        times: Some(times),
    }
}

fn faulty(faults: Vec<FaultRule>) -> Tenant {
    Tenant::with(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
}

fn block(t: &Tenant, user: &str, extra: &[&str]) -> crate::support::Run {
    t.lockdown()
        .args(["block", "--yes", "-o", "json", user])
        .args(extra)
        .run()
}

#[test]
fn throttled_write_is_retried_after_retry_after_and_named_in_a_warning() {
    let t = faulty(vec![rule(
        FaultKind::Throttle {
            retry_after_secs: 2,
        },
        "PATCH",
        "/users/",
        2,
    )]);
    let run = block(&t, "adele@contoso.com", &[]);
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    assert!(!t.user("adele@contoso.com").account_enabled);
    assert_eq!(
        t.emu.requests().iter().filter(|r| r.status == 429).count(),
        2
    );
    assert!(
        run.stderr.contains("adele@contoso.com: disable account"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("429"), "{}", run.stderr);
}

#[test]
fn bursts_of_503_and_504_are_ridden_out() {
    let t = faulty(vec![
        rule(
            FaultKind::ServiceUnavailable {
                retry_after_secs: Some(1),
            },
            "GET",
            "/users/",
            3,
        ),
        rule(FaultKind::GatewayTimeout, "POST", "revokeSignInSessions", 3),
        rule(
            FaultKind::ServiceUnavailable {
                retry_after_secs: None,
            },
            "PATCH",
            "/devices/",
            2,
        ),
    ]);
    let run = block(&t, "adele@contoso.com", &[]);
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    let adele = t.user("adele@contoso.com");
    assert!(!adele.account_enabled);
    assert!(adele
        .device_ids
        .iter()
        .all(|d| !t.emu.device(d).unwrap().account_enabled));
}

/// A connection-level fault on the first `times` HTTP calls, whatever they carry.
fn on_the_wire(kind: FaultKind, times: usize) -> FaultRule {
    FaultRule {
        path_contains: Some("/v1.0/".into()),
        times: Some(times),
        ..FaultRule::always(kind)
    }
}

#[test]
fn dropped_connections_are_retried() {
    for transport in [&[][..], &["--no-batch"][..]] {
        let t = faulty(vec![on_the_wire(FaultKind::DropConnection, 2)]);
        let run = block(&t, "alex@contoso.com", transport);
        run.assert_code(0);
        assert_eq!(run.one()["outcome"], "locked");
        assert!(
            run.stderr.contains("connection failed"),
            "{transport:?}: {}",
            run.stderr
        );
        assert!(!t.user("alex@contoso.com").account_enabled);
    }
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    for transport in [&[][..], &["--no-batch"][..]] {
        let t = faulty(vec![on_the_wire(
            FaultKind::Slow {
                delay: Duration::from_secs(4),
            },
            2,
        )]);
        let mut args = vec!["--timeout", "1"];
        args.extend_from_slice(transport);
        let run = block(&t, "alex@contoso.com", &args);
        run.assert_code(0);
        assert_eq!(run.one()["outcome"], "locked");
        assert!(
            run.stderr.contains("timed out"),
            "{transport:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_graph_that_never_answers_fails_fast_saying_the_requests_timed_out() {
    // Every request on the wire hangs far past --timeout: 3 tries each, then the user fails.
    // (How fast is for the README's bound, not for a test: the tries and the words are.)
    for transport in [&[][..], &["--no-batch"][..]] {
        let t = faulty(vec![FaultRule {
            path_contains: Some("/v1.0/".into()),
            ..FaultRule::always(FaultKind::Slow {
                delay: Duration::from_secs(120),
            })
        }]);
        let mut args = vec!["--timeout", "1"];
        args.extend_from_slice(transport);
        let run = block(&t, "adele@contoso.com", &args);
        run.assert_code(1);
        let u = run.one();
        assert_eq!(u["outcome"], "failed", "{transport:?}: {u:#}");
        assert_eq!(u["error"]["code"], "timeout", "{u:#}");
        let message = u["error"]["message"].as_str().unwrap();
        assert!(message.contains("timed out"), "{message}");
        assert!(message.contains("gave up after 3 tries"), "{message}");
        assert!(run.stderr.contains("timed out"), "{}", run.stderr);
        assert!(t.writes().is_empty(), "{:#?}", t.writes());
        assert!(t.user("adele@contoso.com").account_enabled);
    }
}

#[test]
fn a_malformed_body_is_retried() {
    for transport in [&[][..], &["--no-batch"][..]] {
        // The first answer on the wire comes back torn: with batching, the first batch (the
        // reads); without, the first GET.
        let method = if transport.is_empty() { "POST" } else { "GET" };
        let t = faulty(vec![FaultRule {
            path_contains: Some("/v1.0/".into()),
            ..rule(FaultKind::MalformedJson, method, "", 1)
        }]);
        let run = block(&t, "alex@contoso.com", transport);
        run.assert_code(0);
        assert_eq!(run.one()["outcome"], "locked");
        assert!(
            run.stderr.contains("malformed"),
            "{transport:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_step_that_keeps_failing_is_reported_with_tries_and_time_and_the_rest_still_runs() {
    let mut r = rule(
        FaultKind::ServiceUnavailable {
            retry_after_secs: Some(1),
        },
        "POST",
        "revokeSignInSessions",
        1,
    );
    r.times = None;
    let t = faulty(vec![r]);
    let run = block(&t, "alex@contoso.com", &["--max-retries", "3"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial");
    assert_eq!(status_of(&u, "disable_account"), "done");
    assert_eq!(status_of(&u, "reset_password"), "done");
    assert_eq!(status_of(&u, "disable_devices"), "done");
    let revoke = step(&u, "revoke_sessions");
    assert_eq!(revoke["status"], "failed");
    assert_eq!(revoke["error"]["status"], 503);
    assert!(
        revoke["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 tries over"),
        "{revoke}"
    );
    // verify does not claim the sessions were revoked
    assert_eq!(status_of(&u, "verify"), "failed");
    assert_eq!(
        t.emu
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("revokeSignInSessions"))
            .count(),
        3
    );
}

#[test]
fn thirty_percent_of_requests_failing_still_locks_every_user() {
    let t = Tenant::with(EmulatorConfig {
        faults: vec![
            FaultRule {
                probability: 0.15,
                ..FaultRule::always(FaultKind::ServiceUnavailable {
                    retry_after_secs: None,
                })
            },
            FaultRule {
                probability: 0.15,
                ..FaultRule::always(FaultKind::GatewayTimeout)
            },
        ],
        ..EmulatorConfig::default()
    });
    let users: Vec<String> = (1..=12)
        .map(|i| format!("user{i:02}@contoso.com"))
        .collect();
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--max-retries", "12"])
        .args(&users)
        .run();
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|l| l["outcome"] == "locked"), "{lines:#?}");
    assert!(t
        .emu
        .requests()
        .iter()
        .any(|r| r.status == 503 || r.status == 504));
    for u in &users {
        assert!(!t.user(u).account_enabled, "{u}");
    }
}
