//! JSON batching: many Graph operations per HTTP call (learn: graph/json-batching).
//!
//! Callers submit a *plan*: stages of requests, each stage after the one before, requests in a
//! stage in any order. A failed request never stops the later ones. The batcher packs what is
//! ready into `POST /$batch` calls of at most 20 requests:
//! - one plan alone (a single user) goes out as a fully sequential batch, each request
//!   `dependsOn` the one before, so its ordered writes take one round trip;
//! - several plans go out as fully parallel batches holding the next request of each plan, so a
//!   bulk run sends up to 20 operations per call.
//!
//! Graph's documented rules shape it: a batch is either fully sequential or fully parallel (the
//! batching known issue); a request whose dependency failed answers 424 and did not run, so it
//! is queued again rather than counted as a try (unless its caller asked for the 424 back, to
//! decide itself), and what it was charged is given back to the pacer; each request is
//! throttled on its own and a 429 inside a 200 batch is retried here with its own
//! `Retry-After`, under the same retry policy as single requests. If the server refuses `$batch` itself, lockdown sends requests
//! one by one for the rest of the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::error::{ApiError, GraphError};
use super::pacer::cost_of;
use super::retry;
use super::{Body, GraphRequest, GraphResponse, Inner, Pacing, Target};

/// Graph's limit on requests per batch.
pub const MAX_BATCH: usize = 20;
/// How long the first ready request waits for company before a batch goes out.
const LINGER: Duration = Duration::from_millis(3);
/// Batches in flight at once.
const MAX_IN_FLIGHT: usize = 16;
/// Up to this many users with ordered writes pending each get a dependsOn chain of their own.
const FEW_CHAINS: usize = 8;

pub type Outcome = Result<GraphResponse, GraphError>;

/// One request of a plan, with the label its retry warnings carry.
pub struct Step {
    pub req: GraphRequest,
    pub label: String,
    /// When an earlier request of its dependsOn chain fails, this one answers 424 without
    /// running: send it again (`true`), or hand the 424 back to the caller, who decides.
    pub resend_unrun: bool,
}

struct Submission {
    stages: Vec<Vec<Step>>,
    reply: oneshot::Sender<Vec<Outcome>>,
}

#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Submission>,
}

impl Batcher {
    pub fn start(inner: Arc<Inner>) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Engine::new(inner).run(rx));
        Batcher { tx }
    }

    /// Run a plan; the outcomes come back in the order of the flattened stages.
    pub async fn execute(&self, stages: Vec<Vec<Step>>) -> Vec<Outcome> {
        let count: usize = stages.iter().map(Vec::len).sum();
        let (reply, rx) = oneshot::channel();
        let gone = || GraphError::Refused {
            message: "the request queue stopped".into(),
        };
        if self.tx.send(Submission { stages, reply }).is_err() {
            return (0..count).map(|_| Err(gone())).collect();
        }
        rx.await
            .unwrap_or_else(|_| (0..count).map(|_| Err(gone())).collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ready,
    Waiting(Instant),
    InFlight,
    Done,
}

struct Item {
    req: GraphRequest,
    label: String,
    resend_unrun: bool,
    stage: usize,
    state: State,
    /// Its tries under the one retry policy.
    attempts: retry::Attempts,
    outcome: Option<Outcome>,
}

struct Plan {
    items: Vec<Item>,
    reply: Option<oneshot::Sender<Vec<Outcome>>>,
    seq: u64,
}

impl Plan {
    /// The lowest stage that still has unfinished requests.
    fn frontier(&self) -> Option<usize> {
        self.items
            .iter()
            .filter(|i| i.state != State::Done)
            .map(|i| i.stage)
            .min()
    }

    fn ready(&self, now: Instant) -> Vec<usize> {
        let Some(stage) = self.frontier() else {
            return Vec::new();
        };
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.stage == stage)
            .filter(|(_, i)| match i.state {
                State::Ready => true,
                State::Waiting(t) => t <= now,
                _ => false,
            })
            .map(|(n, _)| n)
            .collect()
    }
}

/// A batch on the wire: which plan items it carries, and whether it is a dependsOn chain.
struct Sent {
    members: Vec<(u64, usize)>,
    sequential: bool,
}

impl Sent {
    /// A lone request goes out without an envelope and runs the retry policy itself.
    fn is_single(&self) -> bool {
        self.members.len() == 1
    }
}

type Completion = (Sent, Result<Vec<Outcome>, GraphError>);

struct Engine {
    inner: Arc<Inner>,
    plans: HashMap<u64, Plan>,
    next_id: u64,
    direct: Arc<AtomicBool>,
}

impl Engine {
    fn new(inner: Arc<Inner>) -> Self {
        Engine {
            inner,
            plans: HashMap::new(),
            next_id: 0,
            direct: Arc::new(AtomicBool::new(false)),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Submission>) {
        let mut in_flight: FuturesUnordered<futures::future::BoxFuture<'static, Completion>> =
            FuturesUnordered::new();
        let mut linger_until: Option<Instant> = None;
        let mut open = true;
        loop {
            let now = Instant::now();
            let mut wake: Option<Instant> = None;
            let ready_count: usize = self.plans.values().map(|p| p.ready(now).len()).sum();
            if ready_count > 0 && in_flight.len() < MAX_IN_FLIGHT {
                let deadline = *linger_until.get_or_insert(now + LINGER);
                if ready_count >= MAX_BATCH || now >= deadline || !open {
                    linger_until = None;
                    while in_flight.len() < MAX_IN_FLIGHT {
                        match self.form(Instant::now()) {
                            Formed::Batch(sent) => in_flight.push(self.send(sent)),
                            Formed::Wait(until) => {
                                wake = Some(until);
                                break;
                            }
                            Formed::Nothing => break,
                        }
                    }
                } else {
                    wake = Some(deadline);
                }
            }
            // Requests waiting out a Retry-After.
            for p in self.plans.values() {
                for i in &p.items {
                    if let State::Waiting(t) = i.state {
                        if t > now {
                            wake = Some(wake.map_or(t, |w| w.min(t)));
                        }
                    }
                }
            }
            if !open && self.plans.is_empty() && in_flight.is_empty() {
                return;
            }
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                sub = rx.recv(), if open => match sub {
                    Some(sub) => self.add(sub),
                    None => open = false,
                },
                Some((sent, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.complete(sent, result);
                }
                _ = sleep => {}
            }
        }
    }

    fn add(&mut self, sub: Submission) {
        let id = self.next_id;
        self.next_id += 1;
        let items: Vec<Item> = sub
            .stages
            .into_iter()
            .enumerate()
            .flat_map(|(stage, steps)| {
                steps.into_iter().map(move |s| Item {
                    req: s.req,
                    label: s.label,
                    resend_unrun: s.resend_unrun,
                    stage,
                    state: State::Ready,
                    attempts: retry::Attempts::default(),
                    outcome: None,
                })
            })
            .collect();
        let mut plan = Plan {
            items,
            reply: Some(sub.reply),
            seq: id,
        };
        if plan.items.is_empty() {
            let _ = plan.reply.take().unwrap().send(Vec::new());
            return;
        }
        self.plans.insert(id, plan);
    }

    /// Pick the next batch: a dependsOn chain for a plan that is alone, else up to 20 ready
    /// requests from different plans. Requests the pacer cannot afford yet stay queued.
    fn form(&mut self, now: Instant) -> Formed {
        let mut ready: Vec<(u64, u64, usize)> = self
            .plans
            .iter()
            .flat_map(|(id, p)| p.ready(now).into_iter().map(move |n| (p.seq, *id, n)))
            .collect();
        if ready.is_empty() {
            return Formed::Nothing;
        }
        ready.sort_unstable();
        let direct = self.direct.load(Ordering::Relaxed);
        let mut wait: Option<Instant> = None;
        let mut members: Vec<(u64, usize)> = Vec::new();
        let mut sequential = false;
        if let Some(plan_id) = self.chain_to_send(&ready).filter(|_| !direct) {
            // That plan's ready frontier, then every later stage, as one chain, if nothing of
            // the frontier is still out or waiting.
            ready.retain(|r| r.1 == plan_id);
            let plan = &self.plans[&plan_id];
            let stage = plan.frontier().expect("a ready plan has a frontier");
            let frontier_all_ready = plan
                .items
                .iter()
                .filter(|i| i.stage == stage && i.state != State::Done)
                .count()
                == ready.len();
            let chain: Vec<usize> = if frontier_all_ready {
                ready
                    .iter()
                    .map(|r| r.2)
                    .chain(
                        plan.items
                            .iter()
                            .enumerate()
                            .filter(|(_, i)| i.stage > stage && i.state == State::Ready)
                            .map(|(n, _)| n),
                    )
                    .take(MAX_BATCH)
                    .collect()
            } else {
                ready.iter().map(|r| r.2).take(MAX_BATCH).collect()
            };
            // Requests of one stage have no order among them: a chain only when it spans
            // stages (a batch is either fully sequential or fully parallel).
            let spans_stages = chain
                .iter()
                .any(|n| plan.items[*n].stage != plan.items[chain[0]].stage);
            sequential = frontier_all_ready && spans_stages;
            for n in chain {
                match self.inner.pacer.try_acquire(cost_of(&plan.items[n].req)) {
                    Ok(()) => members.push((plan_id, n)),
                    Err(d) => {
                        wait = Some(now + d);
                        break;
                    }
                }
            }
        } else {
            let limit = if direct { 1 } else { MAX_BATCH };
            for (_, plan_id, n) in ready {
                if members.len() == limit {
                    break;
                }
                let cost = cost_of(&self.plans[&plan_id].items[n].req);
                match self.inner.pacer.try_acquire(cost) {
                    Ok(()) => members.push((plan_id, n)),
                    Err(d) => {
                        let t = now + d;
                        wait = Some(wait.map_or(t, |w| w.min(t)));
                    }
                }
            }
        }
        if members.is_empty() {
            return match wait {
                Some(t) => Formed::Wait(t),
                None => Formed::Nothing,
            };
        }
        for (plan_id, n) in &members {
            let item = &mut self.plans.get_mut(plan_id).unwrap().items[*n];
            item.state = State::InFlight;
            item.attempts.begin();
        }
        Formed::Batch(Sent {
            members,
            sequential: sequential && !direct,
        })
    }

    /// The plan to send as a dependsOn chain, if any: the plan that is alone, or, while only a
    /// few plans in the whole run have more than one request left, the first ready one, so that
    /// each of a handful of users gets its ordered writes in one round trip. Past that, parallel
    /// batches of the next request of many plans carry more operations per call.
    fn chain_to_send(&self, ready: &[(u64, u64, usize)]) -> Option<u64> {
        let mut plans: Vec<u64> = ready.iter().map(|r| r.1).collect();
        plans.dedup();
        if plans.len() == 1 {
            return Some(plans[0]);
        }
        let has_chain = |p: &Plan| p.items.iter().filter(|i| i.state != State::Done).count() > 1;
        // A small run, not a moment when few plans happen to be ready in a large one.
        let chains_in_progress = self.plans.values().filter(|p| has_chain(p)).count();
        if chains_in_progress > FEW_CHAINS {
            return None;
        }
        plans.into_iter().find(|id| has_chain(&self.plans[id]))
    }

    fn send(&self, sent: Sent) -> futures::future::BoxFuture<'static, Completion> {
        let inner = self.inner.clone();
        let direct = self.direct.clone();
        let reqs: Vec<(GraphRequest, String)> = sent
            .members
            .iter()
            .map(|(p, n)| {
                let item = &self.plans[p].items[*n];
                (item.req.clone(), item.label.clone())
            })
            .collect();
        let sequential = sent.sequential;
        Box::pin(async move {
            if reqs.len() == 1 {
                let (req, label) = &reqs[0];
                // One request needs no envelope; its own retries re-pay the pacer.
                let result = inner.send_http(req, label, Pacing::Prepaid, false).await;
                return (sent, Ok(vec![result]));
            }
            let result = send_batch(&inner, &reqs, sequential).await;
            if let Err(e) = &result {
                if batching_unsupported(e) && !direct.swap(true, Ordering::Relaxed) {
                    warn!("Graph did not accept a JSON batch ({e}); sending requests one by one");
                }
            }
            (sent, result)
        })
    }

    fn complete(&mut self, sent: Sent, result: Result<Vec<Outcome>, GraphError>) {
        let now = Instant::now();
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(e) if batching_unsupported(&e) => {
                // Not run: queue again, to go out one by one.
                for (p, n) in &sent.members {
                    let item = &mut self.plans.get_mut(p).unwrap().items[*n];
                    item.state = State::Ready;
                    item.attempts.not_run();
                }
                return;
            }
            Err(e) => sent.members.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut dependency_failed = false;
        let inner = self.inner.clone();
        let policy = &inner.retry;
        for ((p, n), outcome) in sent.members.iter().zip(outcomes) {
            let plan = self.plans.get_mut(p).unwrap();
            let item = &mut plan.items[*n];
            match outcome {
                Ok(resp) => {
                    // A lone request reported its answer to the pacer itself.
                    if !sent.is_single() {
                        self.inner.pacer.observe(
                            cost_of(&item.req),
                            item.req.method,
                            &resp.headers,
                        );
                    }
                    item.state = State::Done;
                    item.outcome = Some(Ok(resp));
                }
                // A dependsOn chain stops at the first failure; what follows did not run, so
                // Graph's services never counted it.
                Err(GraphError::Api(e))
                    if sent.sequential && e.status == 424 && dependency_failed =>
                {
                    self.inner.pacer.refund(cost_of(&item.req));
                    item.attempts.not_run();
                    if item.resend_unrun {
                        item.state = State::Ready;
                    } else {
                        item.state = State::Done;
                        item.outcome = Some(Err(GraphError::Api(e)));
                    }
                }
                Err(err) if sent.is_single() => {
                    // Already retried under the policy: final.
                    item.state = State::Done;
                    item.outcome = Some(Err(err));
                }
                Err(err) => {
                    dependency_failed = true;
                    if let Some(api) = err.api() {
                        if api.status == 429 {
                            self.inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                            self.inner
                                .pacer
                                .throttled(api.retry_after.unwrap_or(Duration::from_secs(1)), None);
                        }
                    }
                    match item
                        .attempts
                        .failed(policy, err, &item.label, &self.inner.stats)
                    {
                        retry::Next::Retry(delay) => {
                            item.state = State::Waiting(now + policy.real(delay));
                        }
                        retry::Next::Fail(err) => {
                            item.state = State::Done;
                            item.outcome = Some(Err(err));
                        }
                    }
                }
            }
        }
        let finished: Vec<u64> = self
            .plans
            .iter()
            .filter(|(_, p)| p.items.iter().all(|i| i.state == State::Done))
            .map(|(id, _)| *id)
            .collect();
        for id in finished {
            let mut plan = self.plans.remove(&id).unwrap();
            let outcomes = plan
                .items
                .iter_mut()
                .map(|i| i.outcome.take().unwrap())
                .collect();
            if let Some(reply) = plan.reply.take() {
                let _ = reply.send(outcomes);
            }
        }
    }
}

enum Formed {
    Batch(Sent),
    Wait(Instant),
    Nothing,
}

/// The server does not speak `$batch` (an emulator or proxy that lacks it).
fn batching_unsupported(e: &GraphError) -> bool {
    matches!(e, GraphError::Api(a) if matches!(a.status, 400 | 404 | 405 | 501))
}

#[derive(Deserialize)]
struct BatchResponse {
    responses: Vec<ItemResponse>,
}

#[derive(Deserialize)]
struct ItemResponse {
    id: String,
    status: u16,
    #[serde(default)]
    headers: HashMap<String, Value>,
    #[serde(default)]
    body: Option<Value>,
}

/// The URL of a batch item: relative to the version root.
fn relative_url(inner: &Inner, target: &Target) -> Result<String, GraphError> {
    match target {
        Target::Path(p) => Ok(p.clone()),
        Target::Absolute(_) => {
            let url = inner.url_for(target)?;
            let prefix = format!(
                "{}/{}",
                inner.root.path().trim_end_matches('/'),
                super::VERSION
            );
            let path = url.path().strip_prefix(&prefix).unwrap_or(url.path());
            Ok(match url.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            })
        }
    }
}

async fn send_batch(
    inner: &Inner,
    reqs: &[(GraphRequest, String)],
    sequential: bool,
) -> Result<Vec<Outcome>, GraphError> {
    let mut requests = Vec::with_capacity(reqs.len());
    for (n, (req, _)) in reqs.iter().enumerate() {
        let mut item = json!({
            "id": (n + 1).to_string(),
            "method": req.method.as_str(),
            "url": relative_url(inner, &req.target)?,
        });
        if let Some(Body(body)) = &req.body {
            item["body"] = body.clone();
            item["headers"] = json!({ "Content-Type": "application/json" });
        }
        if sequential && n > 0 {
            item["dependsOn"] = json!([n.to_string()]);
        }
        requests.push(item);
    }
    let envelope = GraphRequest {
        method: super::Method::Post,
        target: Target::Path("/$batch".into()),
        body: Some(Body(json!({ "requests": requests }))),
    };
    // A retry of the envelope names what it carries.
    let mut label = reqs
        .iter()
        .take(3)
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if reqs.len() > 3 {
        label.push_str(&format!("; and {} more", reqs.len() - 3));
    }
    let resp = inner
        .send_http(&envelope, &label, Pacing::Unpaced, true)
        .await?;
    let envelope_date = resp.headers.get("date").cloned();
    let parsed: BatchResponse = resp.json()?;
    let mut by_id: HashMap<String, ItemResponse> = parsed
        .responses
        .into_iter()
        .map(|r| (r.id.to_ascii_lowercase(), r))
        .collect();
    debug!(
        "batch of {} ({}) answered",
        reqs.len(),
        if sequential { "sequential" } else { "parallel" }
    );
    let outcomes = (0..reqs.len())
        .map(|n| {
            let Some(item) = by_id.remove(&(n + 1).to_string()) else {
                return Err(GraphError::Decode {
                    message: format!("the batch answer has no response for request {}", n + 1),
                });
            };
            let mut headers = HeaderMap::new();
            for (k, v) in &item.headers {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    headers.insert(name, value);
                }
            }
            if !headers.contains_key("date") {
                if let Some(date) = &envelope_date {
                    headers.insert("date", date.clone());
                }
            }
            let body = match &item.body {
                Some(Value::Null) | None => bytes::Bytes::new(),
                Some(v) => bytes::Bytes::from(serde_json::to_vec(v).expect("JSON re-serializes")),
            };
            inner.stats.operations.fetch_add(1, Ordering::Relaxed);
            let (req, item_label) = &reqs[n];
            debug!(
                "{item_label}: {} {} -> {} (in a batch)",
                req.method.as_str(),
                req.describe().split_once(' ').map_or("", |(_, url)| url),
                item.status
            );
            if (200..300).contains(&item.status) {
                Ok(GraphResponse {
                    status: item.status,
                    headers,
                    body,
                })
            } else {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                Err(GraphError::Api(ApiError::from_parts(
                    item.status,
                    header,
                    &body,
                )))
            }
        })
        .collect();
    Ok(outcomes)
}
