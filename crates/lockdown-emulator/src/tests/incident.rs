//! What the opt-in incident steps call: authentication methods, consents and their apps' service
//! principals, inbox rules, Identity Protection's risky users.

use serde_json::{json, Value};

use super::*;

const ADELE: &str = seed::ids::ADELE;
const NESTOR: &str = seed::ids::NESTOR;

fn types(v: &Value) -> Vec<String> {
    v["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {v}"))
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn methods_are_listed_typed_and_the_default_goes_only_last() {
    let emu = start().await;
    let admin = emu.admin_token();
    let (s, v) = get(
        &emu,
        "/users/nestor@contoso.com/authentication/methods",
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        types(&v),
        [
            "#microsoft.graph.passwordAuthenticationMethod",
            "#microsoft.graph.phoneAuthenticationMethod",
            "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
        ]
    );
    assert_eq!(v["value"][1]["phoneNumber"], "+1 2065550188");
    assert_eq!(v["value"][1]["phoneType"], "mobile");
    let phone = format!(
        "/users/{NESTOR}/authentication/phoneMethods/{}",
        auth_methods::PHONE_MOBILE_ID
    );
    // The phone is the default: refused while the Authenticator remains.
    let (s, _, v) = call(&emu, "DELETE", &phone, Some(&admin), None).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(code(&v), "badRequest");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Cannot delete default method with other methods configured"));
    let authenticator = format!(
        "/users/{NESTOR}/authentication/microsoftAuthenticatorMethods/bqBA7hW0gUazK9RJjEqcNQ2"
    );
    let (s, _, _) = call(&emu, "DELETE", &authenticator, Some(&admin), None).await;
    assert_eq!(s, 204);
    let (s, _, _) = call(&emu, "DELETE", &phone, Some(&admin), None).await;
    assert_eq!(s, 204);
    // Gone now; the password has no delete.
    let (s, _, _) = call(&emu, "DELETE", &phone, Some(&admin), None).await;
    assert_eq!(s, 404);
    let password = format!(
        "/users/{NESTOR}/authentication/passwordMethods/{}",
        auth_methods::PASSWORD_ID
    );
    let (s, _, _) = call(&emu, "DELETE", &password, Some(&admin), None).await;
    assert_eq!(s, 405);
    let left = emu.auth_methods("nestor@contoso.com");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, "password");
}

#[tokio::test]
async fn methods_need_the_permission_and_an_authentication_role() {
    let emu = start().await;
    let path = "/users/adele@contoso.com/authentication/methods";
    let no_scope = delegated(&emu, "admin@contoso.com", &["User.Read.All"], &[]);
    assert_eq!(get(&emu, path, &no_scope).await.0, 403);
    // Acting on another user, a delegated caller needs a role (Megan's token holds one by
    // her Global Administrator role, so use someone without).
    let no_role = delegated(
        &emu,
        "alex@contoso.com",
        &["UserAuthenticationMethod.ReadWrite.All"],
        &[],
    );
    assert_eq!(get(&emu, path, &no_role).await.0, 403);
    let auth_admin = delegated(
        &emu,
        "alex@contoso.com",
        &["UserAuthenticationMethod.ReadWrite.All"],
        &["Authentication Administrator"],
    );
    assert_eq!(get(&emu, path, &auth_admin).await.0, 200);
    // A target holding an admin role needs Privileged Authentication Administrator.
    let (s, _, _) = call(
        &emu,
        "DELETE",
        "/users/isaiah@contoso.com/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7",
        Some(&auth_admin),
        None,
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn consents_are_the_users_own_and_apps_have_names() {
    let emu = start().await;
    let admin = emu.admin_token();
    let (s, v) = get(
        &emu,
        &format!("/users/{ADELE}/oauth2PermissionGrants"),
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let grants = v["value"].as_array().unwrap();
    assert_eq!(
        grants.len(),
        1,
        "the tenant-wide consent is not listed: {v}"
    );
    assert_eq!(grants[0]["consentType"], "Principal");
    assert_eq!(grants[0]["principalId"], ADELE);
    assert_eq!(
        grants[0]["scope"],
        " Mail.Read Mail.Send offline_access User.Read"
    );
    let client = grants[0]["clientId"].as_str().unwrap();
    let (s, sp) = get(
        &emu,
        &format!("/servicePrincipals/{client}?$select=id,appDisplayName"),
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{sp}");
    assert_eq!(sp["appDisplayName"], "Mail Sync Pro");
    assert!(sp.get("appId").is_none(), "only what was selected: {sp}");
    let id = grants[0]["id"].as_str().unwrap();
    let (s, _, _) = call(
        &emu,
        "DELETE",
        &format!("/oauth2PermissionGrants/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let left = emu.permission_grants();
    assert!(left.iter().all(|g| g.id != id));
    assert!(left.iter().any(|g| g.consent_type == "AllPrincipals"));
    // Deleting needs DelegatedPermissionGrant.ReadWrite.All (or a directory-wide write).
    let reader = delegated(&emu, "admin@contoso.com", &["Directory.Read.All"], &[]);
    let nestors = &emu
        .permission_grants()
        .into_iter()
        .find(|g| g.principal_id.as_deref() == Some(NESTOR))
        .unwrap()
        .id;
    let (s, _, _) = call(
        &emu,
        "DELETE",
        &format!("/oauth2PermissionGrants/{nestors}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn inbox_rules_are_disabled_read_only_refused_and_no_mailbox_is_404() {
    let emu = start().await;
    let admin = emu.admin_token();
    let (s, v) = get(
        &emu,
        "/users/adele@contoso.com/mailFolders/inbox/messageRules",
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"][1]["displayName"], "Invoices");
    assert_eq!(
        v["value"][1]["actions"]["forwardTo"][0]["emailAddress"]["address"],
        "accounts@fabrikam-billing.example"
    );
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/adele@contoso.com/mailFolders/inbox/messageRules/AQAAAJ5dZqA%3D",
        Some(&admin),
        Some(json!({"isEnabled": false})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["isEnabled"], false);
    let rules = emu.inbox_rules("adele@contoso.com").unwrap();
    assert!(!rules[1].is_enabled && rules[0].is_enabled);

    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/diego@contoso.com/mailFolders/inbox/messageRules/AQAAAGZ0Xh4=",
        Some(&admin),
        Some(json!({"isEnabled": false})),
    )
    .await;
    assert_eq!((s, code(&v)), (403, "ErrorAccessDenied"));
    let (s, _, v) = call(
        &emu,
        "PATCH",
        "/users/diego@contoso.com/mailFolders/inbox/messageRules/nope",
        Some(&admin),
        Some(json!({"isEnabled": false})),
    )
    .await;
    assert_eq!((s, code(&v)), (404, "ErrorItemNotFound"));
    let (s, v) = get(
        &emu,
        "/users/kiosk@contoso.com/mailFolders/inbox/messageRules",
        &admin,
    )
    .await;
    assert_eq!((s, code(&v)), (404, "MailboxNotEnabledForRESTAPI"));
    let no_scope = delegated(&emu, "admin@contoso.com", &["User.Read.All"], &[]);
    let (s, _) = get(
        &emu,
        "/users/adele@contoso.com/mailFolders/inbox/messageRules",
        &no_scope,
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn confirm_compromised_needs_p2_and_sets_risk_high() {
    let emu = start().await;
    let admin = emu.admin_token();
    let (s, v) = get(
        &emu,
        "/identityProtection/riskyUsers?$filter=userPrincipalName%20eq%20'adele%40contoso.com'",
        &admin,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"][0]["riskLevel"], "medium");
    let (s, v) = get(
        &emu,
        &format!("/identityProtection/riskyUsers?$filter=id%20eq%20'{NESTOR}'"),
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 0, "never flagged");

    let path = "/identityProtection/riskyUsers/confirmCompromised";
    let body = json!({"userIds": [ADELE, NESTOR]});
    let (s, _, _) = call(&emu, "POST", path, Some(&admin), Some(body.clone())).await;
    assert_eq!(s, 204);
    for who in [ADELE, NESTOR] {
        let r = emu.risky_user(who).unwrap();
        assert_eq!(
            (r.risk_level.as_str(), r.risk_state.as_str()),
            ("high", "confirmedCompromised")
        );
    }
    let no_role = delegated(
        &emu,
        "alex@contoso.com",
        &["IdentityRiskyUser.ReadWrite.All"],
        &[],
    );
    let (s, _, _) = call(&emu, "POST", path, Some(&no_role), Some(body.clone())).await;
    assert_eq!(s, 403);
    let security = delegated(
        &emu,
        "alex@contoso.com",
        &["IdentityRiskyUser.ReadWrite.All"],
        &["Security Administrator"],
    );
    let (s, _, _) = call(&emu, "POST", path, Some(&security), Some(body.clone())).await;
    assert_eq!(s, 204);
    emu.set_entra_id(EntraIdPlan::P1);
    let (s, _, v) = call(&emu, "POST", path, Some(&admin), Some(body)).await;
    assert_eq!(s, 403);
    assert_eq!(
        v["error"]["message"],
        "Your tenant is not licensed for this feature."
    );
}

#[tokio::test]
async fn identity_protection_and_reports_have_their_own_limits() {
    let emu = start_with(EmulatorConfig {
        throttling: true,
        ..EmulatorConfig::default()
    })
    .await;
    let admin = emu.admin_token();
    let path = "/identityProtection/riskyUsers/confirmCompromised";
    let body = json!({"userIds": [ADELE]});
    let (s, _, _) = call(&emu, "POST", path, Some(&admin), Some(body.clone())).await;
    assert_eq!(s, 204);
    let (s, headers, _) = call(&emu, "POST", path, Some(&admin), Some(body)).await;
    assert_eq!(s, 429);
    assert!(headers.get("retry-after").is_none());
    let methods = "/users/adele@contoso.com/authentication/methods";
    for _ in 0..5 {
        assert_eq!(get(&emu, methods, &admin).await.0, 200);
    }
    let (s, headers, _) = call(&emu, "GET", methods, Some(&admin), None).await;
    assert_eq!(s, 429);
    assert!(headers.get("retry-after").is_some());
}
