//! Throttling (429 with `Retry-After`) and injected faults: status codes, dropped
//! connections, slow answers and latency.

use super::*;

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
