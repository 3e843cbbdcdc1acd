//! Bearer tokens: what a request without one, with an expired one or with too few
//! permissions gets; `/me`; and Entra's token endpoint.

use super::*;

#[tokio::test]
async fn unauthenticated_requests_get_401_with_graph_error_body() {
    let emu = start().await;
    let resp = client()
        .get(format!("{}/v1.0/users/adele@contoso.com", emu.url()))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["client-request-id"], "abc-123");
    assert!(resp.headers().contains_key("request-id"));
    assert!(resp.headers().contains_key("date"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "InvalidAuthenticationToken");
    assert_eq!(v["error"]["message"], "Access token is empty.");
    assert_eq!(v["error"]["innerError"]["client-request-id"], "abc-123");
    assert!(v["error"]["innerError"]["request-id"].is_string());
    assert!(v["error"]["innerError"]["date"].is_string());

    let (s, v) = get(
        &emu,
        "/users/adele@contoso.com",
        "eyJ0eXAiOiJKV1QifQ.e30.c2ln",
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(code(&v), "InvalidAuthenticationToken");
    let tags: Vec<TokenKindTag> = emu.requests().iter().map(|r| r.token).collect();
    assert_eq!(tags, vec![TokenKindTag::None, TokenKindTag::Invalid]);

    // Tokens are JWT-shaped with realistic claims.
    let tok = emu.admin_token();
    let parts: Vec<&str> = tok.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(!tok.contains('='));
}

#[tokio::test]
async fn me_is_delegated_only() {
    let emu = start().await;
    let (s, v) = get(&emu, "/me", &emu.admin_token()).await;
    assert_eq!(s, 200);
    assert_eq!(v["userPrincipalName"], "admin@contoso.com");
    let (s, v) = get(&emu, "/me", &emu.app_token()).await;
    assert_eq!(s, 400);
    assert_eq!(code(&v), "BadRequest");
    assert_eq!(
        v["error"]["message"],
        "/me request is only valid with delegated authentication flow."
    );
}

#[tokio::test]
async fn permissions_and_roles_are_enforced() {
    let emu = start().await;
    // Delegated caller with the scope but no admin role.
    let t = delegated(
        &emu,
        "alex@contoso.com",
        &["User.ReadWrite.All", "Device.ReadWrite.All"],
        &[],
    );
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/diego@contoso.com",
        Some(&t),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(code(&v), "Authorization_RequestDenied");
    assert_eq!(
        v["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let dev = emu.user("diego@contoso.com").unwrap();
    assert!(dev.device_ids.is_empty());
    let adele_pc = emu.user("adele@contoso.com").unwrap().device_ids[0].clone();
    let (s, _, _) = call(
        &emu,
        "PATCH",
        &format!("/devices/{adele_pc}"),
        Some(&t),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 403);
    // A scope-less token.
    let t = delegated(
        &emu,
        "alex@contoso.com",
        &["User.Read"],
        &["User Administrator"],
    );
    let (s, _, _) = call(
        &emu,
        "POST",
        "/users/diego@contoso.com/revokeSignInSessions",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = get(&emu, "/users/diego@contoso.com", &t).await;
    assert_eq!(s, 403);
    let (s, _) = get(&emu, "/me", &t).await;
    assert_eq!(s, 200);

    // Privileged target: a User Administrator cannot touch another admin.
    let app = emu.app_token();
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/isaiah@contoso.com",
        Some(&app),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &emu,
        "POST",
        "/users/isaiah@contoso.com/revokeSignInSessions",
        Some(&app),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let ua = delegated(
        &emu,
        "diego@contoso.com",
        &["User.ReadWrite.All"],
        &["User Administrator"],
    );
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/isaiah@contoso.com",
        Some(&ua),
        Some(json!({"passwordProfile": {"password": "Xy7!abcdefgh"}})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/alex@contoso.com",
        Some(&ua),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 204);
    assert!(emu.user("isaiah@contoso.com").unwrap().account_enabled);
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/isaiah@contoso.com",
        Some(&emu.admin_token()),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 204);
    // App-only password reset needs the app's directory role.
    let bare = emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: vec!["User-PasswordProfile.ReadWrite.All".into()],
        directory_roles: vec![],
    });
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/diego@contoso.com",
        Some(&bare),
        Some(json!({"passwordProfile": {"password": "Xy7!abcdefgh"}})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/diego@contoso.com",
        Some(&app),
        Some(json!({"passwordProfile": {"password": "Xy7!abcdefgh"}})),
    )
    .await;
    assert_eq!(s, 204);
}

fn payload_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn an_expired_token_gets_lifetime_validation_failed() {
    let emu = start().await;
    let spec = TokenSpec {
        kind: TokenKind::Delegated {
            upn: "admin@contoso.com".into(),
        },
        permissions: vec!["User.Read.All".into()],
        directory_roles: vec![],
    };
    let token = emu.issue_token_expiring(spec, Duration::from_secs(1));
    let exp = payload_claims(&token)["exp"].as_i64().expect("exp");
    assert!((now_unix()..=now_unix() + 1).contains(&exp), "exp {exp}");
    let (s, _) = get(&emu, "/users/adele@contoso.com", &token).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = get(&emu, "/users/adele@contoso.com", &token).await;
    assert_eq!(s, 401);
    assert_eq!(code(&v), "InvalidAuthenticationToken");
    assert_eq!(
        v["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    // The tokens issued at start live an hour.
    let exp = payload_claims(&emu.admin_token())["exp"].as_i64().unwrap();
    assert!(exp > now_unix() + 3500, "exp {exp}");
}

async fn sign_in(emu: &Emulator) -> Value {
    let form = format!(
        "grant_type=client_credentials&client_id={APP_ID}&client_secret={}&scope={}",
        url::form_urlencoded::byte_serialize(APP_CLIENT_SECRET.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(b"https://graph.microsoft.com/.default")
            .collect::<String>()
    );
    let resp = client()
        .post(format!("{}/{TENANT_ID}/oauth2/v2.0/token", emu.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("JSON")
}

#[tokio::test]
async fn the_token_endpoint_issues_tokens_of_the_configured_lifetime() {
    let emu = start().await;
    let grant = sign_in(&emu).await;
    assert_eq!(grant["expires_in"], 3599);
    assert_eq!(grant["access_token"], emu.app_token());

    let emu = start_with(EmulatorConfig {
        sts_token_lifetime: Some(Duration::from_secs(1)),
        ..EmulatorConfig::default()
    })
    .await;
    let first = sign_in(&emu).await;
    assert_eq!(first["expires_in"], 1);
    let token = first["access_token"].as_str().unwrap().to_owned();
    assert_ne!(token, emu.app_token(), "a fresh token per sign-in");
    assert_eq!(payload_claims(&token)["idtyp"], "app");
    let (s, _) = get(&emu, "/users/adele@contoso.com", &token).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = get(&emu, "/users/adele@contoso.com", &token).await;
    assert_eq!((s, code(&v)), (401, "InvalidAuthenticationToken"));
    let second = sign_in(&emu).await;
    let renewed = second["access_token"].as_str().unwrap();
    assert_ne!(renewed, token);
    let (s, _) = get(&emu, "/users/adele@contoso.com", renewed).await;
    assert_eq!(s, 200);
}
