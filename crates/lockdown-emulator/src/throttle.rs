//! Graph's identity-and-access throttling as token buckets.
//!
//! learn: graph/throttling-limits "Identity and access service limits": limits are evaluated
//! with a token bucket algorithm; resource units per app + tenant per 10 s depend on tenant size
//! (S < 50 users, M 50–500, L > 500); writes per app + tenant 3,000 per 2 min 30 s; writes per
//! tenant (all apps) 18,000 per 5 min; device writes per app + tenant 3,000 per 2 min 30 s.
//! The constants are public so a benchmark can compute the floor of a run.
//!
//! Buckets start full and refill continuously on the emulated clock. A request that does not fit
//! consumes nothing and is answered 429 with Retry-After = whole emulated seconds until it fits.

/// Resource units per app + tenant per [`RU_WINDOW_SECS`], tenant under 50 users.
pub const RU_LIMIT_SMALL: f64 = 3_500.0;
/// Resource units per app + tenant per [`RU_WINDOW_SECS`], tenant of 50–500 users.
pub const RU_LIMIT_MEDIUM: f64 = 5_000.0;
/// Resource units per app + tenant per [`RU_WINDOW_SECS`], tenant above 500 users.
pub const RU_LIMIT_LARGE: f64 = 8_000.0;
pub const RU_WINDOW_SECS: f64 = 10.0;
/// Writes per app + tenant per [`APP_WRITE_WINDOW_SECS`].
pub const APP_WRITE_LIMIT: f64 = 3_000.0;
pub const APP_WRITE_WINDOW_SECS: f64 = 150.0;
/// Writes per tenant (all apps) per [`TENANT_WRITE_WINDOW_SECS`].
pub const TENANT_WRITE_LIMIT: f64 = 18_000.0;
pub const TENANT_WRITE_WINDOW_SECS: f64 = 300.0;
/// Device writes (POST/PATCH/DELETE on devices) per app + tenant per [`DEVICE_WRITE_WINDOW_SECS`].
pub const DEVICE_WRITE_LIMIT: f64 = 3_000.0;
pub const DEVICE_WRITE_WINDOW_SECS: f64 = 150.0;

/// Requests per app + tenant per [`REPORTS_WINDOW_SECS`] to the identity and access reports
/// service (sign-in logs). learn: graph/throttling-limits, "Identity and access reports service
/// limits": "Five requests per 10 seconds" per app per tenant.
pub const REPORTS_LIMIT: f64 = 5.0;
pub const REPORTS_WINDOW_SECS: f64 = 10.0;

/// Whether `path` (decoded, after `/v1.0/`) belongs to the identity and access reports service
/// (`auditLogs/...`, `reports/...`), which has its own limit instead of the identity buckets.
pub fn is_reports_path(path: &str) -> bool {
    let lower = path.trim_start_matches('/').to_ascii_lowercase();
    lower.starts_with("auditlogs/")
        || lower == "auditlogs"
        || lower.starts_with("reports/")
        // learn: graph/throttling-limits — authenticationMethod is among the resources of the
        // identity and access reports limits (a user's `authentication/...`).
        || ((lower.starts_with("users") || lower.starts_with("me/"))
            && lower.contains("/authentication/"))
}

/// Requests per tenant (all apps) per second to identity protection and conditional access.
/// learn: graph/throttling-limits, "Identity protection and conditional access service
/// limits": 1 request per second per tenant; its 429 carries no `Retry-After`.
pub const IDENTITY_PROTECTION_PER_SEC: f64 = 1.0;

/// Whether `path` (decoded, after `/v1.0/`) belongs to identity protection (risky users) or
/// Conditional Access (its policies), which share that limit.
pub fn is_identity_protection_path(path: &str) -> bool {
    let lower = path.trim_start_matches('/').to_ascii_lowercase();
    lower.starts_with("identityprotection") || lower.starts_with("identity/conditionalaccess")
}

/// The resource-unit bucket size for a tenant of `users` users.
pub fn ru_limit_for_tenant(users: usize) -> f64 {
    if users < 50 {
        RU_LIMIT_SMALL
    } else if users <= 500 {
        RU_LIMIT_MEDIUM
    } else {
        RU_LIMIT_LARGE
    }
}

/// Resource-unit cost and write cost of one request.
/// `path` is the decoded path after `/v1.0/` (e.g. `users/x/memberOf/microsoft.graph.directoryRole`).
/// learn: graph/throttling-limits — base costs table; `$select` −1, `$expand` +1, `$top` < 20 −1;
/// never below 1; costs for `me/...` also apply to `users/{id | userPrincipalName}/...`.
pub fn request_cost(
    method: &str,
    path: &str,
    has_select: bool,
    has_expand: bool,
    top: Option<u64>,
) -> (u32, u32) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_users_root = |s: &str| s.eq_ignore_ascii_case("users");
    let is_user_addr = |s: &[&str]| -> Option<usize> {
        let first = s.first()?;
        let keyed = first
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("users("));
        if first.eq_ignore_ascii_case("me") || keyed {
            Some(1)
        } else if is_users_root(first) && s.len() >= 2 {
            Some(2)
        } else {
            None
        }
    };
    let get = method.eq_ignore_ascii_case("GET");
    let mut base: i64 = 1;
    if get {
        if segs.len() == 1 && is_users_root(segs[0]) {
            base = 2;
        } else if let Some(rest) = is_user_addr(&segs) {
            if let Some(nav) = segs.get(rest) {
                let nav = nav.to_ascii_lowercase();
                base = match nav.as_str() {
                    "memberof" | "ownedobjects" | "transitivememberof" | "licensedetails" => 2,
                    _ => 1,
                };
            }
        }
    }
    let writes = if get { 0 } else { 1 };
    if has_select {
        base -= 1;
    }
    if has_expand {
        base += 1;
    }
    if top.is_some_and(|t| t < 20) {
        base -= 1;
    }
    (base.max(1) as u32, writes)
}

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: f64,
    scope: &'static str,
    info: &'static str,
}

impl Bucket {
    fn new(capacity: f64, window: f64, scope: &'static str, info: &'static str) -> Bucket {
        Bucket {
            capacity,
            per_sec: capacity / window,
            tokens: capacity,
            last: 0.0,
            scope,
            info,
        }
    }

    fn refill(&mut self, now: f64) {
        if now > self.last {
            self.tokens = (self.tokens + (now - self.last) * self.per_sec).min(self.capacity);
            self.last = now;
        }
    }

    /// Emulated seconds until `need` tokens are available (0 if they are).
    fn wait_for(&self, need: f64) -> f64 {
        if self.tokens >= need {
            0.0
        } else {
            (need - self.tokens) / self.per_sec
        }
    }
}

#[derive(Debug)]
pub(crate) struct Throttle {
    ru: Bucket,
    app_writes: Bucket,
    tenant_writes: Bucket,
    device_writes: Bucket,
    reports: Bucket,
    identity_protection: Bucket,
}

pub(crate) enum Verdict {
    Allowed {
        ru: u32,
        percentage: Option<f64>,
    },
    Throttled {
        retry_after: u64,
        scope: String,
        info: &'static str,
    },
}

impl Throttle {
    pub fn new(users: usize) -> Throttle {
        Throttle {
            ru: Bucket::new(
                ru_limit_for_tenant(users),
                RU_WINDOW_SECS,
                "Tenant_Application/ReadWrite",
                "ResourceUnitLimitExceeded",
            ),
            app_writes: Bucket::new(
                APP_WRITE_LIMIT,
                APP_WRITE_WINDOW_SECS,
                "Tenant_Application/Write",
                "WriteLimitExceeded",
            ),
            tenant_writes: Bucket::new(
                TENANT_WRITE_LIMIT,
                TENANT_WRITE_WINDOW_SECS,
                "Tenant/Write",
                "WriteLimitExceeded",
            ),
            device_writes: Bucket::new(
                DEVICE_WRITE_LIMIT,
                DEVICE_WRITE_WINDOW_SECS,
                "Tenant_Application/Write",
                "WriteLimitExceeded",
            ),
            reports: Bucket::new(
                REPORTS_LIMIT,
                REPORTS_WINDOW_SECS,
                "Tenant_Application/ReadWrite",
                "RequestLimitExceeded",
            ),
            identity_protection: Bucket::new(
                IDENTITY_PROTECTION_PER_SEC,
                1.0,
                "Tenant/ReadWrite",
                "RequestLimitExceeded",
            ),
        }
    }

    /// One request to identity protection at emulated time `now`: `true` if it fits.
    pub fn check_identity_protection(&mut self, now: f64) -> bool {
        let b = &mut self.identity_protection;
        b.refill(now);
        if b.wait_for(1.0) > 0.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }

    /// One request to the identity and access reports service at emulated time `now`.
    pub fn check_reports(&mut self, now: f64) -> Verdict {
        let b = &mut self.reports;
        b.refill(now);
        let wait = b.wait_for(1.0);
        if wait > 0.0 {
            return Verdict::Throttled {
                retry_after: (wait.ceil() as u64).max(1),
                scope: format!(
                    "{}/{}/{}",
                    b.scope,
                    super::state::APP_ID,
                    super::state::TENANT_ID
                ),
                info: b.info,
            };
        }
        b.tokens -= 1.0;
        Verdict::Allowed {
            ru: 1,
            percentage: None,
        }
    }

    /// Try to spend `ru` resource units and `writes` writes at emulated time `now` (seconds).
    pub fn check(&mut self, now: f64, ru: u32, writes: u32, device_write: bool) -> Verdict {
        let mut needs: Vec<(&mut Bucket, f64)> = vec![(&mut self.ru, f64::from(ru))];
        if writes > 0 {
            needs.push((&mut self.app_writes, f64::from(writes)));
            needs.push((&mut self.tenant_writes, f64::from(writes)));
            if device_write {
                needs.push((&mut self.device_writes, f64::from(writes)));
            }
        }
        let mut worst: Option<(f64, &'static str, &'static str)> = None;
        for (b, need) in needs.iter_mut() {
            b.refill(now);
            let w = b.wait_for(*need);
            if w > 0.0 && worst.is_none_or(|(ww, _, _)| w > ww) {
                worst = Some((w, b.scope, b.info));
            }
        }
        if let Some((wait, scope, info)) = worst {
            // learn: graph/throttling — Retry-After in seconds; at least 1.
            let retry_after = (wait.ceil() as u64).max(1);
            return Verdict::Throttled {
                retry_after,
                scope: format!(
                    "{scope}/{}/{}",
                    super::state::APP_ID,
                    super::state::TENANT_ID
                ),
                info,
            };
        }
        let mut pct: f64 = 0.0;
        for (b, need) in needs.iter_mut() {
            b.tokens -= *need;
            pct = pct.max(1.0 - b.tokens / b.capacity);
        }
        // learn: graph/throttling-limits — x-ms-throttle-limit-percentage only above 0.8.
        Verdict::Allowed {
            ru,
            percentage: (pct > 0.8).then_some(pct),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_table() {
        assert_eq!(request_cost("GET", "users/x", false, false, None), (1, 0));
        assert_eq!(request_cost("GET", "users", false, false, None), (2, 0));
        assert_eq!(request_cost("GET", "users", true, false, None), (1, 0));
        assert_eq!(
            request_cost(
                "GET",
                "users/x/memberOf/microsoft.graph.directoryRole",
                false,
                false,
                None
            ),
            (2, 0)
        );
        assert_eq!(
            request_cost("GET", "users/x/registeredDevices", true, false, Some(10)),
            (1, 0)
        );
        assert_eq!(request_cost("PATCH", "users/x", false, false, None), (1, 1));
        assert_eq!(
            request_cost("POST", "users/x/revokeSignInSessions", false, false, None),
            (1, 1)
        );
    }

    #[test]
    fn reports_allow_five_per_ten_seconds() {
        let mut t = Throttle::new(10);
        for _ in 0..5 {
            assert!(matches!(t.check_reports(0.0), Verdict::Allowed { .. }));
        }
        match t.check_reports(0.0) {
            Verdict::Throttled { retry_after, .. } => assert_eq!(retry_after, 2),
            _ => panic!("the sixth request in 10 s is throttled"),
        }
        assert!(matches!(t.check_reports(2.0), Verdict::Allowed { .. }));
        assert!(is_reports_path("auditLogs/signIns"));
        assert!(!is_reports_path("users/x"));
    }

    #[test]
    fn bucket_refills_and_reports_retry_after() {
        let mut t = Throttle::new(10);
        for _ in 0..3 {
            assert!(matches!(
                t.check(0.0, 1000, 0, false),
                Verdict::Allowed { .. }
            ));
        }
        match t.check(0.0, 1000, 0, false) {
            Verdict::Throttled {
                retry_after, info, ..
            } => {
                // 500 missing at 350/s → 2 s.
                assert_eq!(retry_after, 2);
                assert_eq!(info, "ResourceUnitLimitExceeded");
            }
            _ => panic!("expected throttle"),
        }
        assert!(matches!(
            t.check(2.0, 1000, 0, false),
            Verdict::Allowed { .. }
        ));
    }
}
