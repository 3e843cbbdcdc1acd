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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use super::pacer::{cost_of, Cost};
use super::retry;
use super::{Body, GraphRequest, GraphResponse, Inner, Pacing, Priority, Target};

/// Graph's limit on requests per batch.
pub const MAX_BATCH: usize = 20;
/// How long the first ready request waits for company before a batch goes out.
const LINGER: Duration = Duration::from_millis(3);
/// Batches in flight at once.
const MAX_IN_FLIGHT: usize = 16;
/// Up to this many users with ordered writes pending each get a dependsOn chain of their own.
const FEW_CHAINS: usize = 8;

pub type Outcome = Result<GraphResponse, GraphError>;
type Reply = oneshot::Sender<Vec<Outcome>>;

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
    parts: Vec<Part>,
}

/// Consecutive stages of a plan whose outcomes are answered together, as soon as they are all
/// in, even while later stages wait for the pacer.
struct Part {
    stages: usize,
    reply: oneshot::Sender<Vec<Outcome>>,
    /// Its requests not on the wire yet, shared with the submitter's [`Tracked`].
    unsent: Arc<AtomicUsize>,
}

/// Part of a plan handed to the batcher: its outcomes when they are all in, and meanwhile
/// whether any of its requests is still waiting to go out (held by the pacer, or waiting out a
/// `Retry-After`).
pub struct Tracked {
    rx: oneshot::Receiver<Vec<Outcome>>,
    count: usize,
    unsent: Arc<AtomicUsize>,
}

impl Tracked {
    /// Every request of it is on the wire or answered: its outcomes arrive within the round
    /// trip under way, with nothing held back by a throttling limit.
    pub fn on_the_wire(&self) -> bool {
        self.unsent.load(Ordering::Relaxed) == 0
    }

    pub async fn outcomes(self) -> Vec<Outcome> {
        let count = self.count;
        self.rx
            .await
            .unwrap_or_else(|_| (0..count).map(|_| Err(gone())).collect())
    }

    fn new(count: usize) -> (Tracked, Part) {
        let (reply, rx) = oneshot::channel();
        let unsent = Arc::new(AtomicUsize::new(count));
        (
            Tracked {
                rx,
                count,
                unsent: unsent.clone(),
            },
            Part {
                stages: 0,
                reply,
                unsent,
            },
        )
    }
}

/// Split `stages` into parts of `sizes` stages (the last part takes what is left), each with
/// its [`Tracked`] for the submitter and its [`Part`] for the sender.
fn parts(stages: &[Vec<Step>], sizes: &[usize]) -> (Vec<Tracked>, Vec<Part>) {
    let mut tracked = Vec::new();
    let mut parts = Vec::new();
    let mut at = 0;
    for k in 0..=sizes.len() {
        let end = sizes
            .get(k)
            .map_or(stages.len(), |n| (at + n).min(stages.len()));
        let count = stages[at..end].iter().map(Vec::len).sum();
        let (t, mut p) = Tracked::new(count);
        p.stages = end - at;
        tracked.push(t);
        parts.push(p);
        at = end;
    }
    (tracked, parts)
}

/// Send `stages` one after the other without the batcher, by `send` (in a task of its own),
/// answering each part when its stages are done. A part counts as not on the wire until it is
/// answered, since its requests wait for the pacer out of sight.
pub fn spawn_direct<F, Fut>(stages: Vec<Vec<Step>>, sizes: &[usize], send: F) -> Vec<Tracked>
where
    F: Fn(Vec<Step>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Outcome>> + Send,
{
    let (tracked, parts) = parts(&stages, sizes);
    tokio::spawn(async move {
        let mut stages = stages.into_iter();
        for part in parts {
            let mut outcomes = Vec::new();
            for stage in stages.by_ref().take(part.stages) {
                outcomes.extend(send(stage).await);
            }
            part.unsent.store(0, Ordering::Relaxed);
            let _ = part.reply.send(outcomes);
        }
    });
    tracked
}

fn gone() -> GraphError {
    GraphError::Refused {
        message: "the request queue stopped".into(),
    }
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
        let mut parts = self.submit(stages, &[]);
        parts.remove(0).outcomes().await
    }

    /// Hand a plan over; it goes out as the pacer allows, whether or not the outcomes are
    /// awaited. `sizes`: the plan is answered in parts of that many stages, the last part
    /// taking the rest (one [`Tracked`] per part, in order).
    pub fn submit(&self, stages: Vec<Vec<Step>>, sizes: &[usize]) -> Vec<Tracked> {
        let (tracked, parts) = parts(&stages, sizes);
        if let Err(e) = self.tx.send(Submission { stages, parts }) {
            for part in e.0.parts {
                let n = part.unsent.load(Ordering::Relaxed);
                let _ = part.reply.send((0..n).map(|_| Err(gone())).collect());
            }
        }
        tracked
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
    /// Which part of its plan it belongs to.
    part: usize,
    /// What Graph's limits charge for it (worked out once: a run can ask many times).
    cost: Cost,
    state: State,
    /// Its tries under the one retry policy.
    attempts: retry::Attempts,
    outcome: Option<Outcome>,
}

struct Plan {
    items: Vec<Item>,
    /// Each part's reply, until it is sent, and its count of requests not on the wire.
    replies: Vec<(Option<Reply>, Arc<AtomicUsize>)>,
    seq: u64,
}

impl Plan {
    fn unsent(&self, n: usize) -> &AtomicUsize {
        &self.replies[self.items[n].part].1
    }
}

impl Item {
    fn priority(&self) -> Priority {
        self.req.priority.unwrap_or(Priority::Normal)
    }
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

    fn ready(&self, now: Instant) -> impl Iterator<Item = usize> + '_ {
        let stage = self.frontier();
        self.items
            .iter()
            .enumerate()
            .filter(move |(_, i)| Some(i.stage) == stage)
            .filter(move |(_, i)| match i.state {
                State::Ready => true,
                State::Waiting(t) => t <= now,
                _ => false,
            })
            .map(|(n, _)| n)
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
            // How many are ready, up to a batch's worth (no need to count them all).
            let ready_count: usize = self
                .plans
                .values()
                .flat_map(|p| p.ready(now))
                .take(MAX_BATCH)
                .count();
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
        // Stage n belongs to the part whose stages cover it.
        let mut part_of = Vec::new();
        for (k, part) in sub.parts.iter().enumerate() {
            part_of.extend(std::iter::repeat_n(k, part.stages));
        }
        let items: Vec<Item> = sub
            .stages
            .into_iter()
            .enumerate()
            .flat_map(|(stage, steps)| {
                let part = part_of.get(stage).copied().unwrap_or(0);
                steps.into_iter().map(move |s| Item {
                    cost: cost_of(&s.req),
                    req: s.req,
                    label: s.label,
                    resend_unrun: s.resend_unrun,
                    stage,
                    part,
                    state: State::Ready,
                    attempts: retry::Attempts::default(),
                    outcome: None,
                })
            })
            .collect();
        let mut plan = Plan {
            items,
            replies: sub
                .parts
                .into_iter()
                .map(|p| (Some(p.reply), p.unsent))
                .collect(),
            seq: id,
        };
        plan.answer_parts();
        if !plan.replies.iter().all(|r| r.0.is_none()) {
            self.plans.insert(id, plan);
        }
    }

    /// Pick the next batch: a dependsOn chain for a plan that is alone, else up to 20 ready
    /// requests from different plans, the most urgent priority first, then the oldest plan.
    /// Requests the pacer cannot afford yet stay queued.
    fn form(&mut self, now: Instant) -> Formed {
        // Requests of a kind the pacer holds back now (a priority and the buckets it draws on)
        // are left out before sorting: thousands can wait behind a slow limit.
        let pacer = &self.inner.pacer;
        let mut blocked: HashMap<(Priority, [bool; 5]), Option<Duration>> = HashMap::new();
        let mut ready: Vec<(Priority, u64, u64, usize)> = self
            .plans
            .iter()
            .flat_map(|(id, p)| p.ready(now).map(move |n| (p, *id, n)))
            .filter(|(p, _, n)| {
                let item = &p.items[*n];
                blocked
                    .entry((item.priority(), item.cost.buckets()))
                    .or_insert_with(|| pacer.would_wait(item.cost, item.priority()))
                    .is_none()
            })
            .map(|(p, id, n)| (p.items[n].priority(), p.seq, id, n))
            .collect();
        // When the next request held back may go.
        let held_back = blocked.values().flatten().min().map(|d| now + *d);
        if ready.is_empty() {
            return match held_back {
                Some(t) => Formed::Wait(t),
                None => Formed::Nothing,
            };
        }
        ready.sort_unstable();
        let direct = self.direct.load(Ordering::Relaxed);
        let mut wait: Option<Instant> = None;
        let mut members: Vec<(u64, usize)> = Vec::new();
        let mut sequential = false;
        // A dependsOn chain: that plan's ready frontier, then every later stage, if nothing of
        // the frontier is still out or waiting, and only when it spans stages (requests of one
        // stage have no order among them, and a batch is either fully sequential or fully
        // parallel). Otherwise a parallel batch, which can carry other plans' requests too.
        let chain = self
            .chain_to_send(&ready)
            .filter(|_| !direct)
            .and_then(|plan_id| {
                let plan = &self.plans[&plan_id];
                let stage = plan.frontier()?;
                let frontier: Vec<usize> = ready
                    .iter()
                    .filter(|r| r.2 == plan_id)
                    .map(|r| r.3)
                    .collect();
                let frontier_all_ready = plan
                    .items
                    .iter()
                    .filter(|i| i.stage == stage && i.state != State::Done)
                    .count()
                    == frontier.len();
                let later = plan
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.stage > stage && i.state == State::Ready)
                    .map(|(n, _)| n);
                let chain: Vec<usize> = frontier
                    .iter()
                    .copied()
                    .chain(later)
                    .take(MAX_BATCH)
                    .collect();
                let spans_stages = chain
                    .iter()
                    .any(|n| plan.items[*n].stage != plan.items[chain[0]].stage);
                (frontier_all_ready && spans_stages).then_some((plan_id, chain))
            });
        if let Some((plan_id, chain)) = chain {
            sequential = true;
            let plan = &self.plans[&plan_id];
            for n in chain {
                let item = &plan.items[n];
                match self.inner.pacer.try_acquire(item.cost, item.priority()) {
                    Ok(()) => members.push((plan_id, n)),
                    Err(d) => {
                        wait = Some(now + d);
                        break;
                    }
                }
            }
        } else {
            let limit = if direct { 1 } else { MAX_BATCH };
            // Requests of one priority that need the same buckets wait for the same one: once
            // one is held back, the rest of its kind are not asked again in this pass (a run
            // can have thousands queued behind a slow limit).
            let mut held: Vec<(Priority, [bool; 5])> = Vec::new();
            for (priority, _, plan_id, n) in ready {
                if members.len() == limit {
                    break;
                }
                let cost = self.plans[&plan_id].items[n].cost;
                let kind = (priority, cost.buckets());
                if held.contains(&kind) {
                    continue;
                }
                match self.inner.pacer.try_acquire(cost, priority) {
                    Ok(()) => members.push((plan_id, n)),
                    Err(d) => {
                        held.push(kind);
                        let t = now + d;
                        wait = Some(wait.map_or(t, |w| w.min(t)));
                    }
                }
            }
        }
        if members.is_empty() {
            let wait = match (wait, held_back) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            return match wait {
                Some(t) => Formed::Wait(t),
                None => Formed::Nothing,
            };
        }
        for (plan_id, n) in &members {
            let plan = self.plans.get_mut(plan_id).unwrap();
            plan.unsent(*n).fetch_sub(1, Ordering::Relaxed);
            let item = &mut plan.items[*n];
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
    fn chain_to_send(&self, ready: &[(Priority, u64, u64, usize)]) -> Option<u64> {
        let mut seen = std::collections::HashSet::new();
        let plans: Vec<u64> = ready
            .iter()
            .map(|r| r.2)
            .filter(|p| seen.insert(*p))
            .collect();
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
                    let plan = self.plans.get_mut(p).unwrap();
                    plan.unsent(*n).fetch_add(1, Ordering::Relaxed);
                    let item = &mut plan.items[*n];
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
                        self.inner
                            .pacer
                            .observe(item.cost, item.req.method, &resp.headers);
                    }
                    item.state = State::Done;
                    item.outcome = Some(Ok(resp));
                }
                // A dependsOn chain stops at the first failure; what follows did not run, so
                // Graph's services never counted it.
                Err(GraphError::Api(e))
                    if sent.sequential && e.status == 424 && dependency_failed =>
                {
                    self.inner.pacer.refund(item.cost);
                    item.attempts.not_run();
                    if item.resend_unrun {
                        plan.replies[item.part].1.fetch_add(1, Ordering::Relaxed);
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
                            plan.replies[item.part].1.fetch_add(1, Ordering::Relaxed);
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
        // Only the plans this batch carried can have a part newly answered.
        let mut touched: Vec<u64> = sent.members.iter().map(|(p, _)| *p).collect();
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            if self.plans.get_mut(&id).is_some_and(Plan::answer_parts) {
                self.plans.remove(&id);
            }
        }
    }
}

impl Plan {
    /// Answer each part whose requests are all done; true when every part is answered.
    fn answer_parts(&mut self) -> bool {
        for k in 0..self.replies.len() {
            if self.replies[k].0.is_none()
                || self
                    .items
                    .iter()
                    .any(|i| i.part == k && i.state != State::Done)
            {
                continue;
            }
            let outcomes = self
                .items
                .iter_mut()
                .filter(|i| i.part == k)
                .map(|i| i.outcome.take().expect("a done request has its outcome"))
                .collect();
            if let Some(reply) = self.replies[k].0.take() {
                let _ = reply.send(outcomes);
            }
        }
        self.replies.iter().all(|r| r.0.is_none())
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
        let mut headers = serde_json::Map::new();
        if let Some(Body(body)) = &req.body {
            item["body"] = body.clone();
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        if let Some(p) = req.priority {
            headers.insert("x-ms-throttle-priority".into(), json!(p.as_str()));
        }
        if !headers.is_empty() {
            item["headers"] = Value::Object(headers);
        }
        if sequential && n > 0 {
            item["dependsOn"] = json!([n.to_string()]);
        }
        requests.push(item);
    }
    // The envelope is not counted by Graph's limits; it carries the most urgent priority of
    // what it holds.
    let envelope = GraphRequest {
        method: super::Method::Post,
        target: Target::Path("/$batch".into()),
        body: Some(Body(json!({ "requests": requests }))),
        priority: reqs.iter().filter_map(|(r, _)| r.priority).min(),
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
