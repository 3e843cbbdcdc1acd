//! JSON batching. learn: graph/json-batching — `POST /$batch`, at most 20 requests, unique ids,
//! Content-Type on requests with a body, `dependsOn`, per-item status/headers/body, 424 for
//! dependants of a failed request; the batch itself answers 200. learn: graph/known-issues
//! (JSON batching) — a batch must be all parallel, all sequential, or all depend on one request.

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::faults::status_reply;
use super::odata::decode;
use super::routes::{self, Request};
use super::server::{Shared, JSON_CONTENT_TYPE};
use super::{auth, lock, RequestRecord};

pub(crate) const MAX_BATCH: usize = 20;

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn invalid(message: impl Into<String>) -> Reply {
    errors::odata_bad_request(message)
}

fn parse(body: &[u8]) -> Result<Vec<Item>, Reply> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| invalid("Invalid batch payload format."))?;
    let Some(reqs) = v.get("requests").and_then(Value::as_array) else {
        return Err(invalid("Invalid batch payload format."));
    };
    if reqs.len() > MAX_BATCH {
        return Err(invalid(format!(
            "The number of requests in the batch ({}) exceeds the limit of {MAX_BATCH}.",
            reqs.len()
        )));
    }
    let mut items = Vec::new();
    for r in reqs {
        let id = match r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(invalid("Every batch request must have an 'id'.")),
        };
        let method = r
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("Batch request '{id}' has no 'method'.")))?;
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("Batch request '{id}' has no 'url'.")))?;
        let headers = match r.get("headers") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "Batch request '{id}' has invalid 'headers'."
                )))
            }
        };
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        // learn: graph/json-batching — "Content-Type header is required when body is specified".
        if body.is_some()
            && !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            return Err(invalid(format!(
                "Batch request '{id}' has a body but no Content-Type header."
            )));
        }
        let depends_on = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| d.to_string())
                })
                .collect(),
            Some(_) => {
                return Err(invalid(format!(
                    "Batch request '{id}' has invalid 'dependsOn'."
                )))
            }
        };
        items.push(Item {
            id,
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers,
            body,
            depends_on,
        });
    }
    for (i, a) in items.iter().enumerate() {
        if items[..i].iter().any(|b| b.id.eq_ignore_ascii_case(&a.id)) {
            return Err(invalid(format!(
                "Batch request ids must be unique; '{}' is repeated.",
                a.id
            )));
        }
    }
    Ok(items)
}

/// Execution order, if the dependsOn graph is one of the supported shapes.
fn order(items: &[Item]) -> Result<Vec<usize>, Reply> {
    let pos = |id: &str| items.iter().position(|i| i.id.eq_ignore_ascii_case(id));
    for it in items {
        for d in &it.depends_on {
            match pos(d) {
                None => {
                    return Err(invalid(format!(
                        "Batch request '{}' depends on unknown request '{d}'.",
                        it.id
                    )))
                }
                Some(p) if items[p].id.eq_ignore_ascii_case(&it.id) => {
                    return Err(invalid(format!(
                        "Batch request '{}' depends on itself.",
                        it.id
                    )))
                }
                _ => {}
            }
        }
    }
    let n = items.len();
    if items.iter().all(|i| i.depends_on.is_empty()) {
        return Ok((0..n).collect());
    }
    let sequential = items.first().is_some_and(|f| f.depends_on.is_empty())
        && items.windows(2).all(|w| {
            w[1].depends_on.len() == 1 && w[1].depends_on[0].eq_ignore_ascii_case(&w[0].id)
        });
    if sequential {
        return Ok((0..n).collect());
    }
    let roots: Vec<usize> = (0..n).filter(|i| items[*i].depends_on.is_empty()).collect();
    if let [root] = roots.as_slice() {
        let star = items.iter().enumerate().all(|(i, it)| {
            i == *root
                || (it.depends_on.len() == 1
                    && it.depends_on[0].eq_ignore_ascii_case(&items[*root].id))
        });
        if star {
            let mut o = vec![*root];
            o.extend((0..n).filter(|i| i != root));
            return Ok(o);
        }
    }
    Err(invalid(
        "Batch requests must be all parallel, all sequential, or all depend on the same request.",
    ))
}

/// Run a batch envelope. Items are recorded in the request log with `in_batch: true`.
pub(crate) fn run(
    shared: &Shared,
    body: &[u8],
    authorization: Option<String>,
    client_request_id: &str,
) -> Reply {
    let token_tag = {
        let tenant = lock(&shared.tenant);
        if let Err(r) = auth::authenticate(&tenant, authorization.as_deref()) {
            return r;
        }
        auth::tag(&tenant, authorization.as_deref())
    };
    let items = match parse(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let exec = match order(&items) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut results: Vec<Option<Value>> = vec![None; items.len()];
    let mut statuses: Vec<u16> = vec![0; items.len()];
    for &i in &exec {
        let it = &items[i];
        let rel = it.url.trim_start_matches('/');
        let (raw_path, query) = match rel.split_once('?') {
            Some((p, q)) => (format!("/v1.0/{p}"), q.to_string()),
            None => (format!("/v1.0/{rel}"), String::new()),
        };
        let path = decode(&raw_path);
        let seq = lock(&shared.tenant).record(RequestRecord {
            method: it.method.clone(),
            path: path.clone(),
            raw_path: raw_path.clone(),
            query: query.clone(),
            status: 0,
            in_batch: true,
            token: token_tag,
            priority: it
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-ms-throttle-priority"))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_ascii_lowercase),
            at: std::time::Instant::now(),
        });
        let failed_dep = it.depends_on.iter().find(|d| {
            items
                .iter()
                .position(|x| x.id.eq_ignore_ascii_case(d))
                .is_some_and(|p| !(200..300).contains(&statuses[p]))
        });
        let injected = match failed_dep {
            None => lock(&shared.faults).pick(&it.method, &path, true),
            Some(_) => None,
        };
        let mut reply = if let Some(d) = failed_dep {
            Reply::error(
                424,
                "FailedDependency",
                format!("The request depends on request '{d}', which failed."),
            )
        } else if it.url.contains("://") {
            invalid("Batch request urls must be relative to the version root.")
        } else if let Some(r) = injected.as_ref().and_then(status_reply) {
            r
        } else {
            let body = it
                .body
                .as_ref()
                .map(|b| serde_json::to_vec(b).unwrap_or_default());
            routes::execute(
                shared,
                &Request {
                    method: it.method.clone(),
                    path,
                    query,
                    authorization: authorization.clone(),
                    body,
                },
            )
        };
        let crid = it
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("client-request-id"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or(client_request_id)
            .to_string();
        let rid = uuid::Uuid::new_v4().to_string();
        reply.finish(&rid, &crid);
        let mut headers = Map::new();
        if reply.body.is_some() {
            headers.insert("Content-Type".into(), json!(JSON_CONTENT_TYPE));
        }
        for (k, v) in &reply.headers {
            headers.insert(k.clone(), json!(v));
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(it.id));
        out.insert("status".into(), json!(reply.status));
        out.insert("headers".into(), Value::Object(headers));
        if let Some(b) = reply.body.take() {
            out.insert("body".into(), b);
        }
        statuses[i] = reply.status;
        lock(&shared.tenant).set_status(seq, reply.status);
        results[i] = Some(Value::Object(out));
    }
    Reply::json(
        200,
        json!({"responses": results.into_iter().flatten().collect::<Vec<_>>()}),
    )
}
