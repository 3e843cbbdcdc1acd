//! Behaviour tests: each starts an emulator and talks to it over HTTP with reqwest. A module per
//! area; the helpers they share are here.

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

mod auth;
mod batching;
mod check;
mod devices;
mod evidence;
mod faults;
mod hybrid;
mod incident;
mod seeds;
mod users;
