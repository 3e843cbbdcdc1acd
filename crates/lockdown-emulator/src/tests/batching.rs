//! JSON batching: its limits, `dependsOn`, and faults taken per request inside a batch.

use super::*;

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
