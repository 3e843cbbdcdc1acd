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

/// The environment of an app registration that signs in at the emulator's token endpoint.
fn app_env(t: &Tenant) -> crate::support::Cmd {
    use lockdown_emulator::{APP_ID, TENANT_ID};
    let mut cmd = t.bare();
    cmd.env("AZURE_AUTHORITY_HOST", &t.emu.url())
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", APP_ID);
    cmd
}

fn token_requests(t: &Tenant) -> usize {
    t.emu
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/oauth2/v2.0/token"))
        .count()
}

#[test]
fn client_secret_signs_in_end_to_end_and_never_shows_the_secret() {
    use lockdown_emulator::APP_CLIENT_SECRET;
    let t = Tenant::https();
    // `auto` picks the client secret when no ready-made token is set.
    let run = app_env(&t)
        .env("AZURE_CLIENT_SECRET", APP_CLIENT_SECRET)
        .env("RUST_LOG", "trace")
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "-vv",
            "--skip-devices",
            "alex@contoso.com",
        ])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    assert!(!t.user("alex@contoso.com").account_enabled);
    assert_eq!(token_requests(&t), 1, "one token for the whole run");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains(APP_CLIENT_SECRET), "the client secret leaked");
    assert!(!all.contains(&t.emu.app_token()), "the token leaked");
}

#[test]
fn a_wrong_client_secret_is_exit_3_with_entras_reason() {
    let t = Tenant::https();
    let run = app_env(&t)
        .env("AZURE_CLIENT_SECRET", "not-the-secret-value-123")
        .args(["--auth", "secret", "block", "--yes", "alex@contoso.com"])
        .run();
    run.assert_code(3);
    assert!(run.stderr.contains("AADSTS7000215"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-secret-value-123"));
    assert!(
        t.writes().iter().all(|w| w.path.ends_with("/token")),
        "nothing written to Graph"
    );
}

#[test]
fn workload_identity_exchanges_a_federated_token() {
    use base64::Engine;
    let t = Tenant::https();
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let federated = format!(
        "{}.{}.{}",
        enc(r#"{"alg":"RS256","typ":"JWT"}"#),
        enc(
            r#"{"iss":"https://token.actions.githubusercontent.com","sub":"repo:contoso/lockdown:environment:dev-tenant","aud":"api://AzureADTokenExchange"}"#
        ),
        enc("signature-bytes")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oidc-token");
    std::fs::write(&file, &federated).unwrap();
    let run = app_env(&t)
        .env("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap())
        .env("RUST_LOG", "trace")
        .args([
            "--auth",
            "workload-identity",
            "block",
            "--yes",
            "-o",
            "json",
            "--skip-devices",
            "user30@contoso.com",
        ])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    assert!(!format!("{}{}", run.stdout, run.stderr).contains(&federated));
}

#[test]
fn certificate_signs_a_client_assertion() {
    use openssl::{
        asn1::Asn1Time, hash::MessageDigest, pkcs12::Pkcs12, pkey::PKey, rsa::Rsa, x509,
    };
    let t = Tenant::https();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "lockdown-test").unwrap();
    let name = name.build();
    let mut cert = x509::X509Builder::new().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = cert.build();
    let pfx = Pkcs12::builder()
        .name("lockdown")
        .pkey(&key)
        .cert(&cert)
        .build2("pfx-pass")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pfx");
    std::fs::write(&path, pfx.to_der().unwrap()).unwrap();
    let run = app_env(&t)
        .env("AZURE_CLIENT_CERTIFICATE_PATH", path.to_str().unwrap())
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-pass")
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--skip-devices",
            "user31@contoso.com",
        ])
        .run();
    run.assert_code(0);
    assert_eq!(run.one()["outcome"], "locked");
    assert!(!run.stderr.contains("pfx-pass"));
    // A certificate that cannot be read is a credential problem: exit 3, named.
    let run = app_env(&t)
        .env("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/app.pfx")
        .args(["block", "--yes", "user32@contoso.com"])
        .run();
    run.assert_code(3);
    assert!(
        run.stderr.contains("/nonexistent/app.pfx"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_insecure_authority_is_refused_before_sending_a_secret() {
    let run = Cmd::bare()
        .env("AZURE_AUTHORITY_HOST", "http://login.example.com")
        .env("AZURE_TENANT_ID", "contoso.com")
        .env("AZURE_CLIENT_ID", "app")
        .env("AZURE_CLIENT_SECRET", "s3cr3t")
        .args(["block", "--yes", "alex@contoso.com"])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("AZURE_AUTHORITY_HOST"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_redirect_is_never_followed_with_the_token() {
    use lockdown_emulator::{EmulatorConfig, FaultKind, FaultRule};
    let elsewhere = Tenant::start();
    let t = Tenant::with(EmulatorConfig {
        faults: vec![FaultRule::always(FaultKind::Redirect {
            location: format!("{}/v1.0/users/adele@contoso.com", elsewhere.emu.url()),
        })],
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&["adele@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "failed");
    assert_eq!(u["error"]["code"], "refused");
    assert!(
        u["error"]["message"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{u:#}"
    );
    assert!(
        elsewhere.emu.requests().is_empty(),
        "the token went elsewhere"
    );
    assert!(t.writes().is_empty());
}

/// A delegated token of the admin that expires `lifetime` from now.
fn admin_token_expiring(t: &Tenant, lifetime: std::time::Duration) -> String {
    use lockdown_emulator::{TokenKind, TokenSpec};
    t.emu.issue_token_expiring(
        TokenSpec {
            kind: TokenKind::Delegated {
                upn: "admin@contoso.com".into(),
            },
            permissions: [
                "User.Read",
                "User.ReadWrite.All",
                "Directory.AccessAsUser.All",
            ]
            .map(String::from)
            .to_vec(),
            directory_roles: vec![],
        },
        lifetime,
    )
}

#[test]
fn an_expired_access_token_is_exit_3_and_sends_nothing() {
    let t = Tenant::start();
    let token = admin_token_expiring(&t, std::time::Duration::from_secs(1));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for args in [
        vec!["block", "--yes", "adele@contoso.com"],
        vec!["status", "adele@contoso.com"],
    ] {
        let run = t
            .lockdown()
            .env("LOCKDOWN_ACCESS_TOKEN", &token)
            .args(&args)
            .run();
        run.assert_code(3);
        assert!(
            run.stderr
                .contains("the token in LOCKDOWN_ACCESS_TOKEN expired at "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("; get a new one"), "{}", run.stderr);
        assert!(!run.stderr.contains(&token), "the token leaked");
    }
    assert!(t.emu.requests().is_empty(), "{:#?}", t.emu.requests());
}

#[test]
fn a_token_that_expires_mid_run_stops_it_without_being_sent() {
    use lockdown_emulator::EmulatorConfig;
    let t = Tenant::with(EmulatorConfig {
        latency: std::time::Duration::from_millis(100),
        ..EmulatorConfig::default()
    });
    let users: Vec<String> = (1..=20)
        .map(|i| format!("user{i:02}@contoso.com"))
        .collect();
    // One user at a time, one request at a time: about a second per user, so the token runs
    // out a couple of users in.
    let token = admin_token_expiring(&t, std::time::Duration::from_secs(2));
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["block", "--yes", "-o", "json", "--no-batch"])
        .args(["--concurrency", "1"])
        .args(&users)
        .run();
    run.assert_code(3);
    assert!(
        t.emu.requests().iter().all(|r| r.status != 401),
        "a request went out with the expired token"
    );
    assert!(
        t.user("user20@contoso.com").account_enabled,
        "no new user is started once the token has expired"
    );
    // Every user still gets a line: those not reached are interrupted, saying why.
    let lines = run.lines();
    assert_eq!(lines.len(), 20, "{run:?}");
    let last = lines
        .iter()
        .find(|l| l["target"] == "user20@contoso.com")
        .unwrap();
    assert_eq!(last["outcome"], "interrupted", "{last:#}");
    assert!(
        last["reason"].as_str().unwrap().contains("token expired"),
        "{last:#}"
    );
    assert!(
        run.stderr.contains("expired during the run"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_client_secret_run_outlives_its_tokens() {
    use lockdown_emulator::{EmulatorConfig, APP_CLIENT_SECRET};
    // Tokens of two seconds; the run takes longer, one request at a time.
    let t = Tenant::with(EmulatorConfig {
        tls: true,
        sts_token_lifetime: Some(std::time::Duration::from_secs(2)),
        latency: std::time::Duration::from_millis(100),
        ..EmulatorConfig::default()
    });
    let users = [
        "user21@contoso.com",
        "user22@contoso.com",
        "user23@contoso.com",
        "user24@contoso.com",
    ];
    let run = app_env(&t)
        .env("AZURE_CLIENT_SECRET", APP_CLIENT_SECRET)
        .args(["--auth", "secret", "block", "--yes", "-o", "json"])
        .args(["--no-batch", "--concurrency", "1", "--skip-devices"])
        .args(users)
        .run();
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), users.len());
    assert!(lines.iter().all(|l| l["outcome"] == "locked"), "{lines:#?}");
    for u in users {
        assert!(!t.user(u).account_enabled, "{u}");
    }
    assert!(
        token_requests(&t) >= 2,
        "the token was renewed ({} token requests)",
        token_requests(&t)
    );
    assert!(
        t.emu.requests().iter().all(|r| r.status != 401),
        "no request went out with an expired token"
    );
}
