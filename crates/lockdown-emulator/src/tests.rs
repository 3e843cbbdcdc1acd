//! Behaviour tests: each starts an emulator and talks to it over HTTP with reqwest.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("start")
}

async fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("start")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

async fn call(
    emu: &Emulator,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = format!("{}/v1.0{}", emu.url(), path);
    let mut rb = client().request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        &url,
    );
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad json {e}: {text}"))
    };
    (status, headers, v)
}

async fn get(emu: &Emulator, path: &str, token: &str) -> (u16, Value) {
    let (s, _, v) = call(emu, "GET", path, Some(token), None).await;
    (s, v)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn delegated(emu: &Emulator, upn: &str, perms: &[&str], roles: &[&str]) -> String {
    emu.issue_token(TokenSpec {
        kind: TokenKind::Delegated { upn: upn.into() },
        permissions: perms.iter().map(|s| s.to_string()).collect(),
        directory_roles: roles.iter().map(|s| s.to_string()).collect(),
    })
}

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
async fn get_user_default_properties_and_select() {
    let emu = start().await;
    let t = emu.admin_token();
    let (s, v) = get(&emu, "/users/ADELE@contoso.com", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], contoso_ids::ADELE);
    assert_eq!(v["displayName"], "Adele Vance");
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#users/$entity"));
    for hidden in [
        "accountEnabled",
        "userType",
        "onPremisesSyncEnabled",
        "signInSessionsValidFromDateTime",
        "lastPasswordChangeDateTime",
    ] {
        assert!(v.get(hidden).is_none(), "{hidden} must need $select");
    }
    let (s, v) = get(
        &emu,
        "/users/adele@contoso.com?$select=AccountEnabled,userType,signInSessionsValidFromDateTime",
        &t,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["accountEnabled"], true);
    assert_eq!(v["userType"], "Member");
    assert_eq!(v["signInSessionsValidFromDateTime"], "2025-09-01T08:00:00Z");
    assert!(v.get("displayName").is_none());
    let (s, v) = get(
        &emu,
        &format!("/users/{}?$select=id,passwordProfile", contoso_ids::GRADY),
        &t,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], contoso_ids::GRADY);
    assert!(v["passwordProfile"].is_null());
    let (s, v) = get(&emu, "/users/adele@contoso.com?$select=nonsense", &t).await;
    assert_eq!(s, 400);
    assert_eq!(code(&v), "BadRequest");
}

#[tokio::test]
async fn unknown_user_is_404_with_graph_body() {
    let emu = start().await;
    let (s, v) = get(&emu, "/users/nobody@contoso.com", &emu.admin_token()).await;
    assert_eq!(s, 404);
    assert_eq!(code(&v), "Request_ResourceNotFound");
    assert_eq!(
        v["error"]["message"],
        "Resource 'nobody@contoso.com' does not exist or one of its queried reference-property objects are not present."
    );
    let inner = v["error"]["innerError"].as_object().unwrap();
    for k in ["date", "request-id", "client-request-id"] {
        assert!(inner.contains_key(k));
    }
}

#[tokio::test]
async fn dollar_upn_needs_the_key_form() {
    let emu = start().await;
    let t = emu.admin_token();
    let (s, v) = get(&emu, "/users/$lidia@contoso.com", &t).await;
    assert_eq!(s, 400);
    assert_eq!(code(&v), "Request_BadRequest");
    let (s, v) = get(&emu, "/users('$lidia@contoso.com')", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], contoso_ids::LIDIA);
    let (s, _) = get(
        &emu,
        "/users('%24lidia%40contoso.com')/registeredDevices",
        &t,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn apostrophe_and_encoded_guest_upns() {
    let emu = start().await;
    let t = emu.admin_token();
    let (s, v) = get(&emu, "/users('patti.o''fernandez@contoso.com')", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], contoso_ids::PATTI);
    let (s, v) = get(&emu, "/users/patti.o'fernandez@contoso.com", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["displayName"], "Patti O'Fernandez");
    let (s, v) = get(
        &emu,
        "/users/pradeep_fabrikam.com%23EXT%23@contoso.onmicrosoft.com?$select=userType",
        &t,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["userType"], "Guest");
    let rec = emu.requests().pop().unwrap();
    assert_eq!(
        rec.path,
        "/v1.0/users/pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    );
    assert!(rec.raw_path.contains("%23EXT%23"));
    assert_eq!(rec.query, "$select=userType");
    // Zoë's name survives as UTF-8.
    let (_, v) = get(&emu, "/users/zoe@contoso.com", &t).await;
    assert_eq!(v["displayName"], "Zoë Ørsted");
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
async fn patch_user_rules() {
    let emu = start().await;
    let t = emu.admin_token();
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/adele@contoso.com",
        Some(&t),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    assert!(!emu.user("adele@contoso.com").unwrap().account_enabled);

    // Synced user.
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/grady@contoso.com",
        Some(&t),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(code(&v), "Request_BadRequest");
    assert_eq!(v["error"]["message"], errors::SYNCED_MESSAGE);
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/grady@contoso.com",
        Some(&t),
        Some(json!({"passwordProfile": {"password": "Xy7!abcdefgh"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(emu.user("grady@contoso.com").unwrap().account_enabled);

    // Password complexity.
    for weak in [
        "short1A",
        "alllowercaseletters",
        "Ünïcödé-Pass1",
        "abcdefgh12",
    ] {
        let (s, _, v) = call(
            &emu,
            "PATCH",
            "/users/alex@contoso.com",
            Some(&t),
            Some(json!({"passwordProfile": {"password": weak}})),
        )
        .await;
        assert_eq!(s, 400, "{weak}");
        assert_eq!(v["error"]["message"], errors::PASSWORD_COMPLEXITY_MESSAGE);
    }
    let before = emu.user("alex@contoso.com").unwrap();
    let pw = "Correct-Horse-42 battery";
    let (s, h, _) = call(
        &emu,
        "PATCH",
        "/users/alex@contoso.com",
        Some(&t),
        Some(json!({"passwordProfile": {"password": pw, "forceChangePasswordNextSignIn": true}})),
    )
    .await;
    assert_eq!(s, 204);
    assert!(h.get("content-type").is_none());
    let after = emu.user("alex@contoso.com").unwrap();
    assert_eq!(after.password.as_deref(), Some(pw));
    assert!(after.force_change_password_next_sign_in);
    assert_eq!(after.password_resets, before.password_resets + 1);
    assert!(after.last_password_change > before.last_password_change);
    let (_, v) = get(
        &emu,
        "/users/alex@contoso.com?$select=passwordProfile,lastPasswordChangeDateTime",
        &t,
    )
    .await;
    assert!(!v.to_string().contains(pw));
    assert!(v["lastPasswordChangeDateTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Unknown property and malformed JSON.
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/alex@contoso.com",
        Some(&t),
        Some(json!({"accountEnabledd": false})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(code(&v), "Request_BadRequest");
    let resp = client()
        .patch(format!("{}/v1.0/users/alex@contoso.com", emu.url()))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"accountEnabled\": fal")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "BadRequest");
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/alex@contoso.com",
        Some(&t),
        Some(json!({"accountEnabled": "no"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(emu.user("alex@contoso.com").unwrap().account_enabled);
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

#[tokio::test]
async fn revoke_sets_the_timestamp() {
    let emu = start().await;
    let before = emu
        .user("adele@contoso.com")
        .unwrap()
        .sign_in_sessions_valid_from;
    let t0 = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let (s, _, v) = call(
        &emu,
        "POST",
        "/users/adele@contoso.com/revokeSignInSessions",
        Some(&emu.app_token()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"], true);
    assert!(v["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/v1.0/$metadata#Edm.Boolean"));
    let after = emu
        .user("adele@contoso.com")
        .unwrap()
        .sign_in_sessions_valid_from;
    assert!(after > before);
    assert!(after >= t0);
    assert_eq!(after.nanosecond(), 0);
    let (_, v) = get(
        &emu,
        "/users/adele@contoso.com?$select=signInSessionsValidFromDateTime",
        &emu.admin_token(),
    )
    .await;
    assert_eq!(
        v["signInSessionsValidFromDateTime"],
        state::format_datetime(after)
    );
}

#[tokio::test]
async fn registered_devices_page_through_next_link() {
    let emu = start_with(EmulatorConfig {
        max_page_size: 50,
        ..Default::default()
    })
    .await;
    let t = emu.admin_token();
    let mut url = format!(
        "{}/v1.0/users/kiosk@contoso.com/registeredDevices?$select=id,displayName,operatingSystem",
        emu.url()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let v: Value = client()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        for d in v["value"].as_array().unwrap() {
            assert_eq!(d["@odata.type"], "#microsoft.graph.device");
            assert!(d.get("deviceId").is_none());
            seen.push(d["id"].as_str().unwrap().to_string());
        }
        match v["@odata.nextLink"].as_str() {
            Some(n) => {
                assert!(n.starts_with(&format!("{}/v1.0/", emu.url())));
                assert!(n.contains("$skiptoken="));
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 120);
    // $top below the cap.
    let (s, v) = get(&emu, "/users/kiosk@contoso.com/ownedDevices?$top=7", &t).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 7);
    assert!(v["@odata.nextLink"].as_str().unwrap().contains("$top=7"));
    let (s, _) = get(
        &emu,
        "/users/kiosk@contoso.com/registeredDevices?$top=1000",
        &t,
    )
    .await;
    assert_eq!(s, 400);
    // Default page size is 100 (with the default cap).
    let emu2 = start().await;
    let (_, v) = get(
        &emu2,
        "/users/kiosk@contoso.com/registeredDevices",
        &emu2.admin_token(),
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn app_only_device_rules() {
    let emu = start().await;
    let app = emu.app_token();
    let (s, v) = get(&emu, "/users/adele@contoso.com/registeredDevices", &app).await;
    assert_eq!(s, 403);
    assert_eq!(code(&v), "Authorization_RequestDenied");
    let adele = emu.user("adele@contoso.com").unwrap();
    let (pc, phone) = (adele.device_ids[0].clone(), adele.device_ids[1].clone());
    assert_eq!(emu.device(&phone).unwrap().operating_system, "iOS");
    let (s, _, v) = call(
        &emu,
        "PATCH",
        &format!("/devices/{phone}"),
        Some(&app),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"]["message"],
        "Properties other than ExtendedAttribute1..15 can be modified only on windows devices."
    );
    assert!(emu.device(&phone).unwrap().account_enabled);
    let (s, _, _) = call(
        &emu,
        "PATCH",
        &format!("/devices/{pc}"),
        Some(&app),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 204);
    assert!(!emu.device(&pc).unwrap().account_enabled);
    // Delegated admin may disable the phone.
    let (s, _, _) = call(
        &emu,
        "PATCH",
        &format!("/devices/{phone}"),
        Some(&emu.admin_token()),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 204);
    // Hybrid-joined device.
    let hybrid = emu.user("grady@contoso.com").unwrap().device_ids[0].clone();
    let (s, _, v) = call(
        &emu,
        "PATCH",
        &format!("/devices/{hybrid}"),
        Some(&emu.admin_token()),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["message"], errors::SYNCED_MESSAGE);
    // deviceId is not the object id.
    let dev_id = emu.device(&pc).unwrap().device_id;
    let (s, _, _) = call(
        &emu,
        "PATCH",
        &format!("/devices/{dev_id}"),
        Some(&app),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn member_of_directory_roles() {
    let emu = start().await;
    let (s, v) = get(
        &emu,
        "/users/isaiah@contoso.com/memberOf/microsoft.graph.directoryRole",
        &emu.app_token(),
    )
    .await;
    assert_eq!(s, 200);
    let roles = v["value"].as_array().unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["displayName"], "User Administrator");
    assert_eq!(
        roles[0]["roleTemplateId"],
        "fe930be7-5e62-47db-91af-98c3a49a38b1"
    );
    let (_, v) = get(
        &emu,
        "/users/diego@contoso.com/memberOf/microsoft.graph.directoryRole",
        &emu.app_token(),
    )
    .await;
    assert!(v["value"].as_array().unwrap().is_empty());
}

async fn batch(emu: &Emulator, body: Value) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v1.0/$batch", emu.url()))
        .bearer_auth(emu.admin_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    (s, resp.json().await.unwrap())
}

#[tokio::test]
async fn batch_limits_and_dependencies() {
    let emu = start().await;
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users/adele@contoso.com"}))
        .collect();
    let (s, v) = batch(&emu, json!({"requests": many})).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = batch(
        &emu,
        json!({"requests": [
            {"id": "a", "method": "GET", "url": "/me"},
            {"id": "A", "method": "GET", "url": "/me"}
        ]}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = batch(&emu, json!({"requests": [
        {"id": "1", "method": "PATCH", "url": "/users/adele@contoso.com", "body": {"accountEnabled": false}}
    ]}))
    .await;
    assert_eq!(s, 400);
    // Mixed shape: 2 depends on 1, 3 independent, 4 depends on 3.
    let (s, _) = batch(
        &emu,
        json!({"requests": [
            {"id": "1", "method": "GET", "url": "/me"},
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/me"},
            {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]}
        ]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(emu.requests().iter().all(|r| !r.in_batch));

    // Sequential chain whose first request fails: dependants get 424.
    emu.clear_requests();
    let (s, v) = batch(&emu, json!({"requests": [
        {"id": "1", "method": "PATCH", "url": "/users/grady@contoso.com", "headers": {"Content-Type": "application/json"}, "body": {"accountEnabled": false}},
        {"id": "2", "method": "POST", "url": "users/grady@contoso.com/revokeSignInSessions", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users/grady@contoso.com?$select=accountEnabled", "dependsOn": ["2"]}
    ]}))
    .await;
    assert_eq!(s, 200);
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r[0]["status"], 400);
    assert_eq!(r[0]["body"]["error"]["code"], "Request_BadRequest");
    assert_eq!(r[1]["status"], 424);
    assert_eq!(r[2]["status"], 424);
    let recs = emu.requests();
    assert_eq!(recs.len(), 4);
    assert!(!recs[0].in_batch && !recs[0].is_write());
    assert!(recs[1..].iter().all(|r| r.in_batch));
    assert!(recs[1].is_write() && recs[2].is_write() && !recs[3].is_write());
    assert_eq!(
        recs[2].path,
        "/v1.0/users/grady@contoso.com/revokeSignInSessions"
    );

    // All depending on one: runs, with per-item bodies and headers.
    let (s, v) = batch(&emu, json!({"requests": [
        {"id": "d", "method": "PATCH", "url": "/users/adele@contoso.com", "headers": {"Content-Type": "application/json"}, "body": {"accountEnabled": false}},
        {"id": "r", "method": "POST", "url": "/users/adele@contoso.com/revokeSignInSessions", "dependsOn": ["d"]},
        {"id": "g", "method": "GET", "url": "/users/adele@contoso.com?$select=accountEnabled", "dependsOn": ["d"]}
    ]}))
    .await;
    assert_eq!(s, 200);
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r[0]["id"], "d");
    assert_eq!(r[0]["status"], 204);
    assert_eq!(r[1]["status"], 200);
    assert_eq!(r[1]["body"]["value"], true);
    assert_eq!(r[2]["body"]["accountEnabled"], false);
    assert!(!emu.user("adele@contoso.com").unwrap().account_enabled);
}

#[tokio::test]
async fn batch_items_take_status_faults_individually() {
    let emu = start_with(EmulatorConfig {
        faults: vec![FaultRule {
            kind: FaultKind::Throttle {
                retry_after_secs: 7,
            },
            method: Some("POST".into()),
            path_contains: Some("revokeSignInSessions".into()),
            probability: 1.0,
            times: Some(1),
        }],
        ..Default::default()
    })
    .await;
    let (s, v) = batch(
        &emu,
        json!({"requests": [
            {"id": "1", "method": "POST", "url": "/users/adele@contoso.com/revokeSignInSessions"},
            {"id": "2", "method": "POST", "url": "/users/alex@contoso.com/revokeSignInSessions"}
        ]}),
    )
    .await;
    assert_eq!(s, 200);
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r[0]["status"], 429);
    assert_eq!(r[0]["headers"]["Retry-After"], "7");
    assert_eq!(r[0]["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(r[1]["status"], 200);
}

#[tokio::test]
async fn throttling_returns_429_with_retry_after_and_refills() {
    let scale = 5.0;
    let emu = start_with(EmulatorConfig {
        seed: Seed::Bulk {
            users: 10,
            devices_per_user: 1,
        },
        throttling: true,
        time_scale: scale,
        ..Default::default()
    })
    .await;
    let (s, h, _) = call(
        &emu,
        "GET",
        "/users/user00001@contoso.com",
        Some(&emu.admin_token()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-ms-resource-unit"], "1");
    // Exhaust the app's write bucket (3,000 writes per 150 s) with batches of writes.
    let mut throttled = None;
    let mut saw_percentage = false;
    'outer: for _ in 0..400 {
        let reqs: Vec<Value> = (0..20)
            .map(|i| {
                json!({"id": i.to_string(), "method": "PATCH", "url": "/users/user00001@contoso.com",
                    "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "x"}})
            })
            .collect();
        let (s, v) = batch(&emu, json!({"requests": reqs})).await;
        assert_eq!(s, 200);
        for r in v["responses"].as_array().unwrap() {
            if r["headers"].get("x-ms-throttle-limit-percentage").is_some() {
                saw_percentage = true;
            }
            if r["status"] == 429 {
                throttled = Some(r.clone());
                break 'outer;
            }
        }
    }
    let r = throttled.expect("write bucket never ran out");
    assert!(saw_percentage);
    assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(
        r["headers"]["x-ms-throttle-information"],
        "WriteLimitExceeded"
    );
    assert!(r["headers"]["x-ms-throttle-scope"]
        .as_str()
        .unwrap()
        .starts_with("Tenant_Application/Write/"));
    let ra: u64 = r["headers"]["Retry-After"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ra >= 1);
    // A plain request is throttled too, then honouring Retry-After (emulated seconds) works.
    // (The bucket refills continuously, so a write may slip through between 429s.)
    let keep_alive = client();
    let mut answer = None;
    for _ in 0..2000 {
        let r = keep_alive
            .patch(format!("{}/v1.0/users/user00001@contoso.com", emu.url()))
            .bearer_auth(emu.admin_token())
            .json(&json!({"jobTitle": "y"}))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            let h = r.headers().clone();
            answer = Some((h, r.json::<Value>().await.unwrap()));
            break;
        }
    }
    let (h, v) = answer.expect("plain write throttled");
    assert_eq!(code(&v), "TooManyRequests");
    let ra: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs_f64(ra as f64 / scale + 0.05)).await;
    let (s, _, _) = call(
        &emu,
        "PATCH",
        "/users/user00001@contoso.com",
        Some(&emu.admin_token()),
        Some(json!({"jobTitle": "z"})),
    )
    .await;
    assert_eq!(s, 204);
    // Reads still pass while writes are throttled.
    let (s, _, _) = call(
        &emu,
        "GET",
        "/users/user00002@contoso.com",
        Some(&emu.admin_token()),
        None,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn status_faults() {
    let emu = start().await;
    let t = emu.admin_token();
    let rule = |kind| FaultRule {
        kind,
        method: Some("GET".into()),
        path_contains: Some("/users/adele".into()),
        probability: 1.0,
        times: Some(1),
    };
    emu.set_faults(vec![rule(FaultKind::Throttle {
        retry_after_secs: 3,
    })]);
    let (s, h, v) = call(&emu, "GET", "/users/adele@contoso.com", Some(&t), None).await;
    assert_eq!(s, 429);
    assert_eq!(h["retry-after"], "3");
    assert_eq!(code(&v), "TooManyRequests");
    let (s, _, _) = call(&emu, "GET", "/users/adele@contoso.com", Some(&t), None).await;
    assert_eq!(s, 200, "times: Some(1) is spent");

    emu.set_faults(vec![rule(FaultKind::ServiceUnavailable {
        retry_after_secs: Some(2),
    })]);
    let (s, _, _) = call(&emu, "GET", "/users/alex@contoso.com", Some(&t), None).await;
    assert_eq!(s, 200, "path does not match");
    let (s, h, v) = call(&emu, "GET", "/users/adele@contoso.com", Some(&t), None).await;
    assert_eq!(s, 503);
    assert_eq!(h["retry-after"], "2");
    assert_eq!(code(&v), "serviceNotAvailable");

    emu.set_faults(vec![rule(FaultKind::GatewayTimeout)]);
    let (s, _, v) = call(&emu, "GET", "/users/adele@contoso.com", Some(&t), None).await;
    assert_eq!(s, 504);
    assert_eq!(code(&v), "gatewayTimeout");

    emu.set_faults(vec![rule(FaultKind::MalformedJson)]);
    let resp = client()
        .get(format!("{}/v1.0/users/adele@contoso.com", emu.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    // Probabilistic rule with a seeded RNG fires sometimes, not always.
    emu.set_faults(vec![FaultRule {
        probability: 0.5,
        times: None,
        ..rule(FaultKind::GatewayTimeout)
    }]);
    let mut hits = 0;
    for _ in 0..20 {
        let (s, _, _) = call(&emu, "GET", "/users/adele@contoso.com", Some(&t), None).await;
        if s == 504 {
            hits += 1;
        }
    }
    assert!((1..20).contains(&hits), "{hits}");
}

#[tokio::test]
async fn drop_connection_sends_nothing() {
    let emu = start().await;
    emu.set_faults(vec![FaultRule {
        times: Some(1),
        ..FaultRule::always(FaultKind::DropConnection)
    }]);
    let err = client()
        .get(format!("{}/v1.0/users/adele@contoso.com", emu.url()))
        .bearer_auth(emu.admin_token())
        .send()
        .await
        .expect_err("connection must be dropped");
    assert!(!err.is_status());
    assert_eq!(emu.requests()[0].status, 0);
    // The server keeps serving.
    let (s, _) = get(&emu, "/users/adele@contoso.com", &emu.admin_token()).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn slow_fault_outlasts_a_client_timeout_and_latency_applies() {
    let emu = start_with(EmulatorConfig {
        latency: Duration::from_millis(100),
        faults: vec![FaultRule {
            times: Some(1),
            ..FaultRule::always(FaultKind::Slow {
                delay: Duration::from_millis(800),
            })
        }],
        ..Default::default()
    })
    .await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = c
        .get(format!("{}/v1.0/me", emu.url()))
        .bearer_auth(emu.admin_token())
        .send()
        .await
        .expect_err("timeout");
    assert!(err.is_timeout());
    let t0 = Instant::now();
    let resp = c
        .get(format!("{}/v1.0/me", emu.url()))
        .bearer_auth(emu.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(100));
}

#[test]
fn bulk_seed_is_fast() {
    let t0 = Instant::now();
    let t = seed::bulk(10_000, 2);
    let took = t0.elapsed();
    eprintln!("bulk seed of 10,000 users x 2 devices: {took:?}");
    assert_eq!(t.users.len(), 10_001);
    assert_eq!(t.devices.len(), 20_000);
    assert!(t.find_user("USER10000@contoso.com").is_some());
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn contoso_seed_shape() {
    let t = seed::contoso();
    assert!((50..=500).contains(&t.users.len()), "medium tenant");
    let kiosk = t.find_user("kiosk@contoso.com").unwrap();
    assert_eq!(t.users[kiosk].devices.len(), 120);
    assert!(t.find_user("$LIDIA@contoso.com").is_some());
    assert!(routes::password_ok("Xy7!abcdefgh"));
    assert!(!routes::password_ok("Xy7abcdefgh\u{e9}"));
}

#[test]
fn accessors_work_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(start());
    let users = emu.users();
    assert_eq!(users.len(), 55);
    let johanna = emu.user(contoso_ids::JOHANNA).unwrap();
    assert!(!johanna.account_enabled);
    assert!(!emu.device(&johanna.device_ids[0]).unwrap().account_enabled);
    assert_eq!(
        emu.user("BreakGlass@Contoso.com").unwrap().directory_roles,
        vec!["Global Administrator".to_string()]
    );
    emu.shutdown();
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

mod check;
mod incident;

#[tokio::test]
async fn directory_audits_filter_by_target_and_initiator_and_page() {
    let emu = start_with(EmulatorConfig {
        max_page_size: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let admin = emu.admin_token();
    let adele = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    let since = (time::OffsetDateTime::now_utc() - time::Duration::days(7))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let q = |f: &str| {
        format!(
            "/auditLogs/directoryAudits?$filter={}",
            percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    // As a target: the registration (she is her own target); the reset 10 days ago is outside.
    let (s, v) = get(
        &emu,
        &q(&format!(
            "activityDateTime ge {since} and targetResources/any(t:t/id eq '{adele}')"
        )),
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["value"][0]["activityDisplayName"],
        "User registered security info"
    );
    // As the initiator: three records, in pages of two.
    let (s, v) = get(
        &emu,
        &q(&format!(
            "activityDateTime ge {since} and initiatedBy/user/id eq '{adele}'"
        )),
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let next = v["@odata.nextLink"].as_str().unwrap();
    let rest = client()
        .get(next)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(rest["value"].as_array().unwrap().len(), 1);
    assert!(rest.get("@odata.nextLink").is_none());
    // A filter it does not document is refused; so is a caller without AuditLog.Read.All.
    let (s, _) = get(&emu, &q("category eq 'UserManagement'"), &admin).await;
    assert_eq!(s, 400);
    let reader = delegated(
        &emu,
        "admin@contoso.com",
        &["Directory.Read.All"],
        &["Global Administrator"],
    );
    let (s, v) = get(&emu, &q(&format!("activityDateTime ge {since}")), &reader).await;
    assert_eq!((s, code(&v)), (403, "Authorization_RequestDenied"));
}

#[tokio::test]
async fn owned_apps_carry_credential_metadata_and_never_a_secret() {
    let emu = start().await;
    let path = "/users/adele@contoso.com/ownedObjects/microsoft.graph.application";
    let (s, v) = get(&emu, path, &emu.admin_token()).await;
    assert_eq!(s, 200, "{v}");
    let app = &v["value"][0];
    assert_eq!(app["@odata.type"], "#microsoft.graph.application");
    let secret = &app["passwordCredentials"][0];
    assert!(secret["keyId"].is_string() && secret["hint"].is_string());
    assert!(secret["secretText"].is_null());
    assert!(app["keyCredentials"][0]["key"].is_null());
    // $select keeps what was asked for.
    let (_, v) = get(
        &emu,
        &format!("{path}?$select=id,displayName"),
        &emu.admin_token(),
    )
    .await;
    let mut keys: Vec<&String> = v["value"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.type", "displayName", "id"]);
    // Learn lists no application permission for this call.
    let (s, _) = get(&emu, path, &emu.app_token()).await;
    assert_eq!(s, 403);
    // Without a permission to read apps, only their type and id.
    let limited = delegated(
        &emu,
        "admin@contoso.com",
        &["User.Read.All"],
        &["Global Administrator"],
    );
    let (s, v) = get(&emu, path, &limited).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0].as_object().unwrap().len(), 2, "{v}");
}
