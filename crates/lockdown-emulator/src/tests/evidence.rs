//! Evidence: directory audits (both filters, the window, paging) and the apps a user owns
//! with their credentials' metadata.

use super::*;

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
