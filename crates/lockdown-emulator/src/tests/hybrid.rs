//! Groups, Conditional Access policies and Defender for Identity's identity accounts.

use serde_json::json;

use super::*;

fn hybrid() -> EmulatorConfig {
    EmulatorConfig {
        lockdown_setup: true,
        defender_for_identity: true,
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn members_are_added_once_and_removed_with_graphs_errors() {
    let emu = start_with(hybrid()).await;
    let admin = emu.admin_token();
    let group = contoso_ids::BLOCK_GROUP;
    let (s, v) = get(
        &emu,
        "/groups?$filter=mailNickname%20eq%20'lockdown-blocked'&$select=id,mailNickname",
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["id"], group);
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", contoso_ids::GRADY)});
    let path = format!("/groups/{group}/members/$ref");
    let (s, _, _) = call(&emu, "POST", &path, Some(&admin), Some(reference.clone())).await;
    assert_eq!(s, 204);
    let (s, _, v) = call(&emu, "POST", &path, Some(&admin), Some(reference)).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let remove = format!("/groups/{group}/members/{}/$ref", contoso_ids::GRADY);
    let (s, _, _) = call(&emu, "DELETE", &remove, Some(&admin), None).await;
    assert_eq!(s, 204);
    let (s, _, v) = call(&emu, "DELETE", &remove, Some(&admin), None).await;
    assert_eq!(s, 404);
    assert_eq!(code(&v), "Request_ResourceNotFound");
    // A delegated caller needs a role that manages groups.
    let plain = delegated(
        &emu,
        "alex@contoso.com",
        &["GroupMember.ReadWrite.All"],
        &[],
    );
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", contoso_ids::ALEX)});
    let (s, _, _) = call(&emu, "POST", &path, Some(&plain), Some(body)).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn policies_need_p1_and_share_identity_protections_limit() {
    let emu = start_with(EmulatorConfig {
        throttling: true,
        ..hybrid()
    })
    .await;
    let admin = emu.admin_token();
    let (s, v) = get(&emu, "/identity/conditionalAccess/policies", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["state"], "enabled");
    // A second request within the second: 429, without Retry-After.
    let (s, headers, _) = call(
        &emu,
        "GET",
        "/identity/conditionalAccess/policies",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 429);
    assert!(headers.get("retry-after").is_none());

    let emu = start_with(EmulatorConfig {
        entra_id: EntraIdPlan::Free,
        ..hybrid()
    })
    .await;
    let (s, _, v) = call(
        &emu,
        "PATCH",
        &format!(
            "/identity/conditionalAccess/policies/{}",
            contoso_ids::BLOCK_POLICY
        ),
        Some(&emu.admin_token()),
        Some(json!({"state": "disabled"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("P1"));
}

#[tokio::test]
async fn identity_accounts_act_a_moment_later_and_are_absent_without_defender() {
    let emu = start_with(EmulatorConfig {
        time_scale: 100.0,
        ..hybrid()
    })
    .await;
    let admin = emu.admin_token();
    let (s, v) = get(
        &emu,
        &format!(
            "/security/identities/identityAccounts?$filter=onPremisesSecurityIdentifier%20eq%20'{}'",
            contoso_ids::GRADY_SID
        ),
        &admin,
    )
    .await;
    assert_eq!(s, 200);
    let account = &v["value"][0];
    assert_eq!(account["isEnabled"], true);
    let ad = account["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identityProvider"] == "activeDirectory")
        .unwrap()
        .clone();
    assert!(ad["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("disable")));
    let id = account["id"].as_str().unwrap();
    let path = format!("/security/identities/identityAccounts/{id}/invokeAction");
    let (s, _, v) = call(
        &emu,
        "POST",
        &path,
        Some(&admin),
        Some(json!({"accountId": ad["identifier"], "action": "disable", "identityProvider": "activeDirectory"})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["correlationId"].is_string());
    // Not yet: Defender for Identity's action account carries it out a moment later.
    let (_, v) = get(
        &emu,
        &format!("/security/identities/identityAccounts/{id}"),
        &admin,
    )
    .await;
    assert_eq!(v["isEnabled"], true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, v) = get(
        &emu,
        &format!("/security/identities/identityAccounts/{id}"),
        &admin,
    )
    .await;
    assert_eq!(v["isEnabled"], false);
    // An action the account does not allow is refused.
    let (s, _, _) = call(
        &emu,
        "POST",
        &path,
        Some(&admin),
        Some(json!({"accountId": ad["identifier"], "action": "revokeAllSessions", "identityProvider": "activeDirectory"})),
    )
    .await;
    assert_eq!(s, 400);

    emu.set_defender_for_identity(false);
    let (s, _) = get(&emu, "/security/identities/identityAccounts", &admin).await;
    assert_eq!(s, 404);
    // The synced user's SID, on the user.
    let (_, v) = get(
        &emu,
        "/users/grady@contoso.com?$select=onPremisesSecurityIdentifier",
        &admin,
    )
    .await;
    assert_eq!(v["onPremisesSecurityIdentifier"], contoso_ids::GRADY_SID);
}
