//! Users: reading (by UPN, object id, `$`, apostrophes, guests), updating, revoking
//! sessions, and their directory roles.

use super::*;

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
