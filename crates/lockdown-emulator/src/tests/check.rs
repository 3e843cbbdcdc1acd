//! What `lockdown check` and `lockdown watch` read: the app's own permissions, the caller's
//! directory roles, the tenant's licences, and sign-in logs.

use serde_json::Value;

use super::*;

fn app(emu: &Emulator, perms: &[&str], roles: &[&str]) -> String {
    emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: perms.iter().map(|s| s.to_string()).collect(),
        directory_roles: roles.iter().map(|s| s.to_string()).collect(),
    })
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn values<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap_or_else(|| panic!("no {key}: {x}")))
        .collect()
}

#[tokio::test]
async fn tokens_carry_realistic_claims() {
    let emu = start().await;
    let admin = claims(&emu.admin_token());
    assert_eq!(admin["idtyp"], "user");
    assert_eq!(admin["tid"], TENANT_ID);
    assert_eq!(admin["appid"], APP_ID);
    assert_eq!(admin["upn"], "admin@contoso.com");
    assert_eq!(admin["oid"], contoso_ids::ADMIN);
    assert!(admin["scp"].as_str().unwrap().contains("AuditLog.Read.All"));
    assert_eq!(
        admin["wids"],
        serde_json::json!(["62e90394-69f5-4237-9190-012177145e10"])
    );
    let app = claims(&emu.app_token());
    assert_eq!(app["idtyp"], "app");
    assert!(app["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "Application.Read.All"));
    assert!(app.get("scp").is_none() && app.get("upn").is_none());
    // User Administrator, assigned to the app.
    assert_eq!(
        app["wids"],
        serde_json::json!(["fe930be7-5e62-47db-91af-98c3a49a38b1"])
    );
}

#[tokio::test]
async fn the_app_reads_its_own_graph_permissions() {
    let emu = start().await;
    let t = emu.app_token();
    let (s, sp) = get(
        &emu,
        &format!("/servicePrincipals(appId='{APP_ID}')?$select=id,appId,displayName"),
        &t,
    )
    .await;
    assert_eq!(s, 200, "{sp}");
    assert_eq!(sp["appId"], APP_ID);
    assert!(sp.get("appRoles").is_none(), "$select applies");
    let sp_id = sp["id"].as_str().unwrap().to_string();
    let (s, graph) = get(
        &emu,
        &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles"),
        &t,
    )
    .await;
    assert_eq!(s, 200);
    let role_of = |id: &str| -> String {
        graph["appRoles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["value"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no app role {id}"))
    };
    let (s, list) = get(
        &emu,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
        &t,
    )
    .await;
    assert_eq!(s, 200);
    let mut granted: Vec<String> = values(&list, "appRoleId")
        .into_iter()
        .map(role_of)
        .collect();
    granted.sort();
    let mut expected = emu.app_permissions();
    expected.sort();
    assert_eq!(granted, expected);
    assert!(list["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["resourceId"] == graph["id"] && a["principalId"] == sp_id.as_str()));

    // Consent revoked after the token was issued: the assignments change, the token does not.
    emu.set_app_permissions(&["User.Read.All", "Application.Read.All"]);
    let (_, list) = get(
        &emu,
        &format!("/servicePrincipals(appId='{APP_ID}')/appRoleAssignments"),
        &t,
    )
    .await;
    assert_eq!(values(&list, "appRoleId").len(), 2);

    // Without Application.Read.All (or Directory.Read.All): 403.
    let bare = app(&emu, &["User.Read.All"], &[]);
    let (s, v) = get(
        &emu,
        &format!("/servicePrincipals(appId='{APP_ID}')"),
        &bare,
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(code(&v), "Authorization_RequestDenied");
    let (s, v) = get(&emu, "/servicePrincipals(appId='nope')", &t).await;
    assert_eq!((s, code(&v)), (404, "Request_ResourceNotFound"));
}

#[tokio::test]
async fn a_delegated_caller_reads_its_transitive_roles() {
    let emu = start().await;
    let user_read = delegated(&emu, "isaiah@contoso.com", &["User.Read"], &[]);
    let (s, v) = get(
        &emu,
        "/me/transitiveMemberOf/microsoft.graph.directoryRole?$select=displayName,roleTemplateId",
        &user_read,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(values(&v, "displayName"), vec!["User Administrator"]);
    assert_eq!(
        values(&v, "roleTemplateId"),
        vec!["fe930be7-5e62-47db-91af-98c3a49a38b1"]
    );
}

#[tokio::test]
async fn subscribed_skus_follow_the_licence_switches() {
    let emu = start().await;
    let t = emu.app_token();
    let plans = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v["value"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["servicePlans"].as_array().unwrap().clone())
            .map(|p| p["servicePlanName"].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    };
    let (s, v) = get(&emu, "/subscribedSkus", &t).await;
    assert_eq!(s, 200);
    assert_eq!(
        plans(&v),
        vec![
            "AAD_PREMIUM",
            "AAD_PREMIUM_P2",
            "EXCHANGE_S_ENTERPRISE",
            "INTUNE_A"
        ]
    );
    assert!(v["value"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{TENANT_ID}_")));
    emu.set_entra_id(EntraIdPlan::P1);
    emu.set_intune(false);
    let (_, v) = get(
        &emu,
        "/subscribedSkus?$select=skuPartNumber,servicePlans",
        &t,
    )
    .await;
    assert_eq!(plans(&v), vec!["AAD_PREMIUM", "EXCHANGE_S_ENTERPRISE"]);
    assert!(v["value"][0].get("prepaidUnits").is_none());
    emu.set_entra_id(EntraIdPlan::Free);
    let (_, v) = get(&emu, "/subscribedSkus", &t).await;
    assert_eq!(plans(&v), vec!["EXCHANGE_S_ENTERPRISE"]);
    let bare = app(&emu, &["User.Read.All"], &[]);
    assert_eq!(get(&emu, "/subscribedSkus", &bare).await.0, 403);
}

fn filter_for(users: &[&str], since: &str) -> String {
    let users: Vec<String> = users.iter().map(|u| format!("userId eq '{u}'")).collect();
    let f = format!("({}) and createdDateTime ge {since}", users.join(" or "));
    percent_encoding::utf8_percent_encode(&f, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn sign_ins_filter_by_users_and_time_newest_first_in_pages() {
    let emu = start_with(EmulatorConfig {
        max_page_size: 2,
        ..Default::default()
    })
    .await;
    let t = emu.app_token();
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let since_text = since
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut older = SignInSpec::success("adele@contoso.com");
    older.created = since + time::Duration::seconds(10);
    let a = emu.add_sign_in(older);
    let b = emu.add_sign_in(SignInSpec::failure(
        "alex@contoso.com",
        50057,
        "The user account is disabled.",
    ));
    let c = emu.add_sign_in(SignInSpec::success("adele@contoso.com"));
    // Someone else, and an old one of Adele's (seeded): both filtered out.
    emu.add_sign_in(SignInSpec::success("diego@contoso.com"));

    let path = format!(
        "/auditLogs/signIns?$filter={}",
        filter_for(&[contoso_ids::ADELE, contoso_ids::ALEX], &since_text)
    );
    let (s, first) = get(&emu, &path, &t).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let next = first["@odata.nextLink"].as_str().expect("a second page");
    let resp = client().get(next).bearer_auth(&t).send().await.unwrap();
    let second: Value = resp.json().await.unwrap();
    assert!(second.get("@odata.nextLink").is_none());
    let mut ids: Vec<&str> = values(&first, "id");
    ids.extend(values(&second, "id"));
    // Newest first: c and b were added after a (b and c within the same instant or so).
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[2], a);
    assert!(ids[..2].contains(&b.as_str()) && ids[..2].contains(&c.as_str()));
    let failed = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["value"].as_array().unwrap())
        .find(|s| s["id"] == b.as_str())
        .unwrap()
        .clone();
    assert_eq!(failed["status"]["errorCode"], 50057);
    assert_eq!(
        failed["status"]["failureReason"],
        "The user account is disabled."
    );
    assert_eq!(failed["userPrincipalName"], "alex@contoso.com");
    assert_eq!(failed["location"]["city"], "Lagos");
    assert_eq!(failed["isInteractive"], true);
    assert!(failed["createdDateTime"].as_str().unwrap().ends_with('Z'));

    // A malformed filter is a 400.
    let (s, v) = get(&emu, "/auditLogs/signIns?$filter=userId%20eq", &t).await;
    assert_eq!((s, code(&v)), (400, "BadRequest"));
}

#[tokio::test]
async fn sign_ins_need_a_premium_licence_a_permission_and_a_reports_role() {
    let emu = start().await;
    let (s, _) = get(&emu, "/auditLogs/signIns", &emu.admin_token()).await;
    assert_eq!(s, 200);
    // A delegated caller without a role that may read sign-in reports.
    let helpdesk = delegated(&emu, "adele@contoso.com", &["AuditLog.Read.All"], &[]);
    assert_eq!(get(&emu, "/auditLogs/signIns", &helpdesk).await.0, 403);
    let reader = delegated(
        &emu,
        "adele@contoso.com",
        &["AuditLog.Read.All"],
        &["Global Reader"],
    );
    assert_eq!(get(&emu, "/auditLogs/signIns", &reader).await.0, 200);
    // An app without AuditLog.Read.All.
    let bare = app(&emu, &["User.Read.All"], &[]);
    let (s, v) = get(&emu, "/auditLogs/signIns", &bare).await;
    assert_eq!((s, code(&v)), (403, "Authorization_RequestDenied"));
    // No Entra ID P1 or P2.
    emu.set_entra_id(EntraIdPlan::Free);
    let (s, v) = get(&emu, "/auditLogs/signIns", &emu.app_token()).await;
    assert_eq!(s, 403);
    assert_eq!(
        code(&v),
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
    assert_eq!(
        v["error"]["message"],
        "Neither tenant is B2C or tenant doesn't have premium license"
    );
}

#[tokio::test]
async fn sign_ins_have_their_own_throttling_bucket() {
    let emu = start_with(EmulatorConfig {
        throttling: true,
        ..Default::default()
    })
    .await;
    let t = emu.app_token();
    for _ in 0..5 {
        assert_eq!(get(&emu, "/auditLogs/signIns", &t).await.0, 200);
    }
    let (s, h, v) = call(&emu, "GET", "/auditLogs/signIns", Some(&t), None).await;
    assert_eq!(s, 429, "{v}");
    assert!(h["Retry-After"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // The identity buckets are untouched.
    assert_eq!(get(&emu, "/users/adele@contoso.com", &t).await.0, 200);
}
