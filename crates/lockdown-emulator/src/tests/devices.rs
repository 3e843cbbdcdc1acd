//! Devices: a user's registered devices through `@odata.nextLink`, and what an app-only
//! token may change.

use super::*;

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
