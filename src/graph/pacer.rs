//! Pacing at Graph's speed limit, so a large run neither trips into long 429 back-offs nor
//! leaves capacity unused.
//!
//! Graph throttles identity requests with token buckets (learn: graph/throttling-limits,
//! "Identity and access service limits"): resource units per app and tenant (3,500 per 10 s for
//! the smallest tenants), writes per app and tenant (3,000 per 2 min 30 s), writes per tenant
//! (18,000 per 5 min) and device writes per app and tenant (3,000 per 2 min 30 s). The pacer
//! keeps a mirror of those buckets: a request goes out only when the mirror says it fits, so a
//! run bursts while the buckets are full and then settles at the refill rate.
//!
//! Two services with limits of their own are mirrored too: "identity and access reports"
//! (authentication methods, sign-in logs: 5 requests per 10 s per app and tenant) and "identity
//! protection and conditional access" (risky users: 1 request per second per tenant, and its
//! 429 carries no `Retry-After`). Those are the limits that pace a run with opt-in steps, and
//! [`Pacer::pacing`] names the one holding requests back, for the progress line.
//!
//! The mirror can only be wrong in Graph's favour, and Graph's signals correct it: a 429 empties
//! the bucket it names (`x-ms-throttle-information`) and pauses that class of request for
//! `Retry-After`; `x-ms-throttle-limit-percentage` on a write caps the write bucket at what is
//! left of Graph's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::{GraphRequest, Method, Priority, Target};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    pub resource_units: f64,
    pub writes: f64,
    pub device_writes: f64,
    /// Requests to the identity and access reports service (authentication methods).
    pub reports: f64,
    /// Requests to identity protection (risky users) and Conditional Access (its policies).
    pub identity_protection: f64,
}

impl Cost {
    /// Which buckets it draws on: resource units, writes, device writes, reports, identity
    /// protection.
    pub fn buckets(&self) -> [bool; 5] {
        [
            self.resource_units > 0.0,
            self.writes > 0.0,
            self.device_writes > 0.0,
            self.reports > 0.0,
            self.identity_protection > 0.0,
        ]
    }
}

/// The documented cost of a request: GET 1 (2 for a few collections), writes 1 RU + 1 write;
/// `$select` -1, `$top` under 20 -1, never below 1. Requests to other services are counted in
/// their own bucket instead: authentication methods in the reports one (on top of the
/// directory's, which is the safe side of not knowing), risky users in identity protection's,
/// and Outlook's (inbox rules) in none, since Outlook limits each mailbox, not the tenant.
pub fn cost_of(req: &GraphRequest) -> Cost {
    let (path, query) = match &req.target {
        Target::Path(p) => p.split_once('?').unwrap_or((p.as_str(), "")),
        Target::Absolute(u) => {
            let rest = u.split_once("/v1.0").map(|(_, r)| r).unwrap_or(u.as_str());
            rest.split_once('?').unwrap_or((rest, ""))
        }
    };
    let lower = path.to_ascii_lowercase();
    // learn: graph/throttling-limits, "Identity protection and conditional access service
    // limits": any request, 1 per second per tenant (riskyUser among the resources).
    if lower.starts_with("/identityprotection/") || lower.starts_with("/identity/conditionalaccess")
    {
        return Cost {
            identity_protection: 1.0,
            ..Cost::default()
        };
    }
    // learn: graph/throttling-limits, "Outlook service limits": per app and mailbox.
    if lower.contains("/mailfolders/") || lower.ends_with("/mailfolders") {
        return Cost::default();
    }
    let mut ru: i32 = if req.method == Method::Get
        && (lower == "/users"
            || lower.contains("/memberof")
            || lower.contains("/transitivememberof"))
    {
        2
    } else {
        1
    };
    if query.contains("$select=") {
        ru -= 1;
    }
    if let Some(top) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("$top="))
        .and_then(|v| v.parse::<u32>().ok())
    {
        if top < 20 {
            ru -= 1;
        }
    }
    let write = req.method.is_write();
    Cost {
        resource_units: f64::from(ru.max(1)),
        writes: if write { 1.0 } else { 0.0 },
        device_writes: if write && lower.starts_with("/devices") {
            1.0
        } else {
            0.0
        },
        // learn: graph/throttling-limits, "Identity and access reports service limits": 5
        // requests per 10 s per app and tenant, for authenticationMethod, signIn, directoryAudit
        // and the reports.
        reports: if lower.contains("/authentication/")
            || lower.starts_with("/auditlogs")
            || lower.starts_with("/reports/")
        {
            1.0
        } else {
            0.0
        },
        identity_protection: 0.0,
    }
}

/// A bucket the pacer mirrors, as the progress line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    ResourceUnits,
    AppWrites,
    TenantWrites,
    DeviceWrites,
    Reports,
    IdentityProtection,
}

impl Limit {
    /// Graph's name for the limit and its size.
    pub fn describe(self) -> &'static str {
        match self {
            Limit::ResourceUnits => "resource units per app (3,500 per 10 s)",
            Limit::AppWrites => "writes per app (3,000 per 2 min 30 s)",
            Limit::TenantWrites => "writes per tenant (18,000 per 5 min)",
            Limit::DeviceWrites => "device writes (3,000 per 2 min 30 s)",
            Limit::Reports => "identity and access reports (5 requests per 10 s)",
            Limit::IdentityProtection => "identity protection (1 request per second)",
        }
    }
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    /// Tokens per Graph second.
    rate: f64,
    tokens: f64,
    /// Nothing of this class goes out before this instant (after a 429).
    paused_until: Option<Instant>,
    /// Graph seconds between a request leaving and Graph counting it.
    lag: f64,
    /// Refill owed before tokens come back: a full bucket starts refilling when its first
    /// request is counted, and Graph counts it later than the pacer does. Small buckets
    /// notice: without this, a run that drains one gets a 429 on its first request after.
    debt: f64,
}

impl Bucket {
    fn new(capacity: f64, window_secs: f64) -> Self {
        Bucket {
            capacity,
            rate: capacity / window_secs,
            tokens: capacity,
            paused_until: None,
            lag: 0.0,
            debt: 0.0,
        }
    }

    /// A bucket whose refill starts `lag` Graph seconds after its first request is taken.
    fn lagging(mut self, lag: f64) -> Self {
        self.lag = lag;
        self
    }

    fn take(&mut self, n: f64) {
        if n <= 0.0 {
            return;
        }
        if self.tokens >= self.capacity {
            self.debt = self.rate * self.lag;
        }
        self.tokens -= n;
    }

    fn refill(&mut self, graph_secs: f64) {
        let add = self.rate * graph_secs;
        let owed = add.min(self.debt);
        self.debt -= owed;
        self.tokens = (self.tokens + (add - owed)).min(self.capacity);
    }

    /// Real time until `need` tokens are there, `None` if they are now.
    fn wait(&self, need: f64, now: Instant, scale: f64) -> Option<Duration> {
        if let Some(until) = self.paused_until {
            if until > now {
                return Some(until - now);
            }
        }
        if need <= 0.0 || self.tokens >= need.min(self.capacity) {
            return None;
        }
        Some(Duration::from_secs_f64(
            (need - self.tokens + self.debt) / (self.rate * scale),
        ))
    }
}

#[derive(Debug)]
struct State {
    resource_units: Bucket,
    app_writes: Bucket,
    tenant_writes: Bucket,
    device_writes: Bucket,
    reports: Bucket,
    identity_protection: Bucket,
    last: Instant,
    /// The bucket that last held back a request of each priority (high, normal, low), and when.
    held: [Option<(Limit, Instant)>; 3],
    /// Writes that `low` requests leave in the write buckets for `high` ones.
    reserve: f64,
}

fn rank(p: Priority) -> usize {
    match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

impl State {
    /// How long a request of `cost` at `priority` must wait, and for which limit; `None` when it
    /// fits now. A `low` write leaves the reserve in the write buckets.
    fn wait(
        &self,
        cost: Cost,
        priority: Priority,
        now: Instant,
        scale: f64,
    ) -> Option<(Duration, Limit)> {
        let keep = if priority == Priority::Low && cost.writes > 0.0 {
            self.reserve
        } else {
            0.0
        };
        let needs = [
            (
                cost.resource_units,
                &self.resource_units,
                Limit::ResourceUnits,
            ),
            (
                cost.writes + keep.min(self.app_writes.capacity - cost.writes),
                &self.app_writes,
                Limit::AppWrites,
            ),
            (
                cost.writes + keep.min(self.tenant_writes.capacity - cost.writes),
                &self.tenant_writes,
                Limit::TenantWrites,
            ),
            (cost.device_writes, &self.device_writes, Limit::DeviceWrites),
            (cost.reports, &self.reports, Limit::Reports),
            (
                cost.identity_protection,
                &self.identity_protection,
                Limit::IdentityProtection,
            ),
        ];
        needs
            .iter()
            .filter(|(need, _, _)| *need > 0.0)
            .filter_map(|(need, b, limit)| Some((b.wait(*need, now, scale)?, *limit)))
            .max_by_key(|(wait, _)| *wait)
    }

    fn refill(&mut self, now: Instant, scale: f64) {
        let graph_secs = now.saturating_duration_since(self.last).as_secs_f64() * scale;
        self.last = now;
        for b in self.buckets_mut() {
            b.refill(graph_secs);
        }
    }

    fn buckets_mut(&mut self) -> [&mut Bucket; 6] {
        [
            &mut self.resource_units,
            &mut self.app_writes,
            &mut self.tenant_writes,
            &mut self.device_writes,
            &mut self.reports,
            &mut self.identity_protection,
        ]
    }
}

/// Shared by every request of a run.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    /// Graph seconds per real second (the emulator's clock can run faster).
    scale: f64,
    enabled: bool,
}

impl Pacer {
    pub fn new(time_scale: f64) -> Self {
        Pacer {
            state: Mutex::new(State {
                // The smallest tenant's budget: lockdown cannot know the tenant's size up front,
                // and for lockdown's mix of requests the write buckets bind long before this.
                resource_units: Bucket::new(3_500.0, 10.0),
                app_writes: Bucket::new(3_000.0, 150.0),
                tenant_writes: Bucket::new(18_000.0, 300.0),
                device_writes: Bucket::new(3_000.0, 150.0),
                // A second of lag covers a request's trip to Graph (and the emulator's faster
                // clock in tests); the big buckets do not notice a second.
                reports: Bucket::new(5.0, 10.0).lagging(1.0),
                identity_protection: Bucket::new(1.0, 1.0).lagging(1.0),
                last: Instant::now(),
                held: [None; 3],
                reserve: 0.0,
            }),
            scale: if time_scale > 0.0 && time_scale.is_finite() {
                time_scale
            } else {
                1.0
            },
            enabled: true,
        }
    }

    /// A pacer that never holds anything back.
    pub fn disabled() -> Self {
        Pacer {
            enabled: false,
            ..Pacer::new(1.0)
        }
    }

    /// Keep `writes` of the write buckets for `high` requests: `low` ones (clean-up) may take a
    /// write only while more than that is left. The engine sets it to what the containment of
    /// the users it can still start is expected to need, so that a slow clean-up never spends
    /// the burst those users' containment needs; it is 0 once none is left to contain.
    pub fn reserve(&self, writes: f64) {
        let mut s = self.state.lock().unwrap();
        s.reserve = writes.max(0.0);
    }

    /// How long a request of this cost and priority would have to wait now, if it would
    /// (nothing is taken).
    pub fn would_wait(&self, cost: Cost, priority: Priority) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        s.refill(now, self.scale);
        let (wait, limit) = s.wait(cost, priority, now, self.scale)?;
        s.held[rank(priority)] = Some((limit, now));
        Some(wait.max(Duration::from_millis(1)))
    }

    /// Take the tokens for `cost` if they are there; otherwise say how long to wait. A `low`
    /// request leaves the reserve (see [`Pacer::reserve`]) in the write buckets.
    pub fn try_acquire(&self, cost: Cost, priority: Priority) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        s.refill(now, self.scale);
        if let Some((wait, limit)) = s.wait(cost, priority, now, self.scale) {
            s.held[rank(priority)] = Some((limit, now));
            return Err(wait.max(Duration::from_millis(1)));
        }
        s.resource_units.take(cost.resource_units);
        s.app_writes.take(cost.writes);
        s.tenant_writes.take(cost.writes);
        s.device_writes.take(cost.device_writes);
        s.reports.take(cost.reports);
        s.identity_protection.take(cost.identity_protection);
        Ok(())
    }

    /// Give back what a request was charged when it never reached the service: a request of a
    /// dependsOn chain that answered 424 because an earlier one failed was answered by the
    /// batch itself.
    pub fn refund(&self, cost: Cost) {
        if !self.enabled {
            return;
        }
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        for (b, given) in [
            (&mut s.resource_units, cost.resource_units),
            (&mut s.app_writes, cost.writes),
            (&mut s.tenant_writes, cost.writes),
            (&mut s.device_writes, cost.device_writes),
            (&mut s.reports, cost.reports),
            (&mut s.identity_protection, cost.identity_protection),
        ] {
            b.tokens = (b.tokens + given).min(b.capacity);
        }
    }

    /// The limit that held back a request of this priority in the last few (Graph) seconds:
    /// what paces that part of the run now, for the progress line.
    pub fn pacing(&self, priority: Priority) -> Option<Limit> {
        if !self.enabled {
            return None;
        }
        let s = self.state.lock().unwrap();
        let (limit, at) = s.held[rank(priority)]?;
        let recent = Duration::from_secs_f64(3.0 / self.scale);
        (at.elapsed() <= recent).then_some(limit)
    }

    /// Wait for the tokens, then take them.
    pub async fn acquire(&self, cost: Cost, priority: Priority) {
        while let Err(wait) = self.try_acquire(cost, priority) {
            tokio::time::sleep(wait).await;
        }
    }

    /// A successful answer. `x-ms-resource-unit` says what the request really cost, which
    /// replaces the estimate it was charged; on a write, `x-ms-throttle-limit-percentage` tells
    /// how much of Graph's write budget is left.
    pub fn observe(&self, charged: Cost, method: Method, headers: &HeaderMap) {
        if !self.enabled {
            return;
        }
        let mut s = self.state.lock().unwrap();
        if let Some(actual) = header_f64(headers, "x-ms-resource-unit") {
            if actual.is_finite() && actual >= 0.0 {
                let ru = &mut s.resource_units;
                ru.tokens = (ru.tokens + charged.resource_units - actual).min(ru.capacity);
            }
        }
        if !method.is_write() {
            return;
        }
        let Some(used) = header_f64(headers, "x-ms-throttle-limit-percentage") else {
            return;
        };
        let left = (1.0 - used).max(0.0) * s.app_writes.capacity;
        if s.app_writes.tokens > left {
            s.app_writes.tokens = left;
        }
    }

    /// A 429: empty the bucket Graph names and hold that class back for `retry_after`.
    pub fn throttled(&self, retry_after: Duration, headers: Option<&HeaderMap>) {
        if !self.enabled {
            return;
        }
        let until = Instant::now() + retry_after.div_f64(self.scale);
        let info = headers
            .and_then(|h| h.get("x-ms-throttle-information"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut s = self.state.lock().unwrap();
        let mut hit: Vec<&mut Bucket> = if info.contains("write") {
            vec![&mut s.app_writes]
        } else if info.contains("resourceunit") {
            vec![&mut s.resource_units]
        } else {
            s.buckets_mut().into_iter().collect()
        };
        for b in hit.iter_mut() {
            b.tokens = b.tokens.min(0.0);
            b.paused_until = Some(b.paused_until.map_or(until, |u| u.max(until)));
        }
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_graphs_table() {
        let get = GraphRequest::get("/users/x?$select=id");
        assert_eq!(cost_of(&get).resource_units, 1.0);
        assert_eq!(cost_of(&get).writes, 0.0);
        let roles = GraphRequest::get("/users/x/memberOf/microsoft.graph.directoryRole");
        assert_eq!(cost_of(&roles).resource_units, 2.0);
        let patch = GraphRequest::patch("/devices/abc", serde_json::json!({}));
        let c = cost_of(&patch);
        assert_eq!(
            (c.resource_units, c.writes, c.device_writes),
            (1.0, 1.0, 1.0)
        );
        let revoke = GraphRequest::post("/users/x/revokeSignInSessions");
        assert_eq!(cost_of(&revoke).device_writes, 0.0);
        let methods = GraphRequest::delete(
            "/users/x/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7",
        );
        assert_eq!(cost_of(&methods).reports, 1.0);
        let confirm = GraphRequest::post("/identityProtection/riskyUsers/confirmCompromised");
        let c = cost_of(&confirm);
        assert_eq!(
            (c.identity_protection, c.writes, c.resource_units),
            (1.0, 0.0, 0.0)
        );
        let rule = GraphRequest::get("/users/x/mailFolders/inbox/messageRules");
        assert_eq!(cost_of(&rule), Cost::default());
    }

    #[test]
    fn identity_protection_allows_one_request_per_second_and_says_so() {
        let pacer = Pacer::new(1.0);
        let confirm = cost_of(&GraphRequest::post(
            "/identityProtection/riskyUsers/confirmCompromised",
        ));
        assert!(pacer.pacing(Priority::Normal).is_none());
        pacer.try_acquire(confirm, Priority::Normal).unwrap();
        let wait = pacer.try_acquire(confirm, Priority::Normal).unwrap_err();
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert_eq!(
            pacer.pacing(Priority::Normal),
            Some(Limit::IdentityProtection)
        );
        // Other requests are not held back by it.
        let read = cost_of(&GraphRequest::get("/users/x"));
        assert!(pacer.try_acquire(read, Priority::Normal).is_ok());
    }

    #[test]
    fn reports_allow_five_requests_per_ten_seconds_and_refunds_return_them() {
        let pacer = Pacer::new(1.0);
        let list = cost_of(&GraphRequest::get("/users/x/authentication/methods"));
        for _ in 0..5 {
            pacer.try_acquire(list, Priority::Normal).unwrap();
        }
        let wait = pacer.try_acquire(list, Priority::Normal).unwrap_err();
        // One request every 2 s, the first after the second of lag.
        assert!(wait > Duration::from_millis(2_900), "{wait:?}");
        assert_eq!(pacer.pacing(Priority::Normal), Some(Limit::Reports));
        pacer.refund(list);
        assert!(pacer.try_acquire(list, Priority::Normal).is_ok());
    }

    #[test]
    fn bursts_then_paces_at_the_refill_rate() {
        let pacer = Pacer::new(1.0);
        let write = Cost {
            resource_units: 1.0,
            writes: 1.0,
            device_writes: 0.0,
            ..Cost::default()
        };
        for _ in 0..3_000 {
            pacer
                .try_acquire(write, Priority::Normal)
                .expect("the first 3,000 writes burst");
        }
        let wait = pacer.try_acquire(write, Priority::Normal).unwrap_err();
        // 3,000 per 150 s refills one write every 50 ms.
        assert!(
            wait <= Duration::from_millis(51) && wait >= Duration::from_millis(40),
            "{wait:?}"
        );
    }

    #[test]
    fn low_writes_leave_the_reserve_to_high_ones_and_each_priority_names_its_limit() {
        let pacer = Pacer::new(1.0);
        let write = cost_of(&GraphRequest::patch("/devices/abc", serde_json::json!({})));
        pacer.reserve(2_990.0);
        for _ in 0..10 {
            pacer.try_acquire(write, Priority::Low).unwrap();
        }
        // 2,990 left: a clean-up write waits, a containment write does not.
        assert!(pacer.try_acquire(write, Priority::Low).is_err());
        assert_eq!(pacer.pacing(Priority::Low), Some(Limit::AppWrites));
        assert_eq!(pacer.pacing(Priority::High), None);
        pacer.try_acquire(write, Priority::High).unwrap();
        // Reads are not held back by the reserve.
        let read = cost_of(&GraphRequest::get("/users/x/registeredDevices"));
        assert!(pacer.try_acquire(read, Priority::Low).is_ok());
        // Nothing left to contain: the clean-up takes the rest.
        pacer.reserve(0.0);
        assert!(pacer.try_acquire(write, Priority::Low).is_ok());
    }

    #[test]
    fn a_429_pauses_the_class_it_names() {
        let pacer = Pacer::new(1.0);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-throttle-information",
            "WriteLimitExceeded".parse().unwrap(),
        );
        pacer.throttled(Duration::from_secs(3), Some(&headers));
        let write = Cost {
            resource_units: 1.0,
            writes: 1.0,
            device_writes: 0.0,
            ..Cost::default()
        };
        let read = Cost {
            resource_units: 1.0,
            writes: 0.0,
            device_writes: 0.0,
            ..Cost::default()
        };
        assert!(pacer.try_acquire(write, Priority::Normal).unwrap_err() > Duration::from_secs(2));
        assert!(
            pacer.try_acquire(read, Priority::Normal).is_ok(),
            "reads are not held back by a write limit"
        );
    }

    #[test]
    fn percentage_header_caps_the_write_bucket() {
        let pacer = Pacer::new(1.0);
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-throttle-limit-percentage", "1.0".parse().unwrap());
        let write = Cost {
            resource_units: 1.0,
            writes: 1.0,
            device_writes: 0.0,
            ..Cost::default()
        };
        pacer.observe(write, Method::Patch, &headers);
        assert!(pacer.try_acquire(write, Priority::Normal).is_err());
    }

    #[test]
    fn resource_unit_header_corrects_the_estimate() {
        let pacer = Pacer::new(1.0);
        let read = Cost {
            resource_units: 1.0,
            writes: 0.0,
            device_writes: 0.0,
            ..Cost::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-resource-unit", "3500".parse().unwrap());
        // Charged 1, really cost 3,500: the whole small-tenant budget.
        pacer.try_acquire(read, Priority::Normal).unwrap();
        pacer.observe(read, Method::Get, &headers);
        assert!(pacer.try_acquire(read, Priority::Normal).is_err());
    }
}
