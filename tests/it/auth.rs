//! Credentials and the Graph URL: exit 3 for no usable token, exit 2 for an insecure URL.

use crate::support::{Cmd, Tenant};

#[test]
fn no_credentials_names_the_variables_to_set() {
    let run = Cmd::bare()
        .args(["block", "--yes", "adele@contoso.com"])
        .run();
    run.assert_code(3);
    for var in [
        "LOCKDOWN_ACCESS_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
    ] {
        assert!(run.stderr.contains(var), "{var} not named: {}", run.stderr);
    }
}

#[test]
fn an_empty_token_is_exit_3_and_sends_nothing() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", "   ")
        .args(["block", "--yes", "adele@contoso.com"])
        .run();
    run.assert_code(3);
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
    assert!(t.emu.requests().is_empty());
}

#[test]
fn a_token_graph_rejects_is_exit_3_and_writes_nothing() {
    let t = Tenant::start();
    for args in [
        vec!["block", "--yes", "adele@contoso.com", "alex@contoso.com"],
        vec!["status", "adele@contoso.com"],
    ] {
        let run = t
            .lockdown()
            .env("LOCKDOWN_ACCESS_TOKEN", "not-a-real-token")
            .args(&args)
            .run();
        run.assert_code(3);
    }
    assert!(t.writes().is_empty(), "{:#?}", t.writes());
    assert!(t.user("adele@contoso.com").account_enabled);
}

#[test]
fn secret_mode_without_its_variables_is_exit_3() {
    let run = Cmd::bare()
        .env("AZURE_CLIENT_SECRET", "s3cr3t-value")
        .args(["--auth", "secret", "block", "--yes", "adele@contoso.com"])
        .run();
    run.assert_code(3);
    assert!(run.stderr.contains("AZURE_TENANT_ID"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t-value"));
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_sending() {
    let run = Cmd::bare()
        .env("LOCKDOWN_ACCESS_TOKEN", "abc")
        .args([
            "--graph-url",
            "http://graph.example.com",
            "block",
            "--yes",
            "adele@contoso.com",
        ])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("https"), "{}", run.stderr);
}

#[test]
fn a_non_microsoft_host_is_announced() {
    let t = Tenant::start();
    let run = t.lockdown().args(["status", "diego@contoso.com"]).run();
    run.assert_code(0);
    assert!(run.stderr.contains("127.0.0.1"), "{}", run.stderr);
}
