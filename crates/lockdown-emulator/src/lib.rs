//! The emulated Microsoft Graph tenant.
//!
//! A local, stateful HTTP server that behaves like Microsoft Graph v1.0 for the endpoints
//! lockdown uses (users, revokeSignInSessions, registeredDevices/ownedDevices, memberOf,
//! devices and their `deviceId` alternate key, Intune's managedDevices and remoteLock,
//! `$batch`; and for `lockdown check` and `watch`: transitiveMemberOf, service principals and
//! their appRoleAssignments, subscribedSkus, auditLogs/signIns; and for the opt-in incident
//! steps: authentication methods, oauth2PermissionGrants and the apps' service principals, inbox
//! messageRules, Identity Protection's riskyUsers; for hybrid accounts: groups and their
//! members, Conditional Access policies, Defender for Identity's identityAccounts; and for
//! evidence: auditLogs/directoryAudits and the apps a user owns, ownedObjects cast to
//! application and servicePrincipal, with their credentials' metadata). Every behaviour comes from
//! Microsoft's documentation; each one carries a `// learn: ...` comment naming the page.
//! Integration tests run the real binary against it and inspect the tenant through the
//! synchronous accessors below; `lockdown --sandbox` embeds it.
//!
//! ## The Contoso seed ([`Seed::Contoso`], 55 users: a medium tenant for throttling)
//!
//! | UPN | display name | id | notes |
//! |---|---|---|---|
//! | admin@contoso.com | Megan Bowen | 8a1d4c2e-5b3f-4e6a-9c7d-1e2f3a4b5c6d | Global Administrator; the admin token; 1 Windows device |
//! | adele@contoso.com | Adele Vance | 87d349ed-44d7-43e1-9a83-5f2406dee5bd | Windows 11 laptop (AzureAd; also Intune-managed) + iPhone (Workplace; not in Intune); methods: password, Microsoft Authenticator (the default), mobile phone, FIDO2 key; inbox rules "Newsletters" (moves) and "Invoices" (forwards outside); a consent to Mail Sync Pro; risk medium (atRisk) |
//! | alex@contoso.com | Alex Wilber | 4782e723-f4f4-4af3-a76e-25e3bab0d896 | 1 Windows device |
//! | diego@contoso.com | Diego Siciliani | c03e6eaa-b6ab-46d7-905b-73ec7ea1f755 | no devices; only a password; a read-only rule "Forward all" (forwards outside) and "Receipts" (moves) |
//! | $lidia@contoso.com | Lidia Holloway | 2ed03dfd-01d8-4005-a9ef-fa8ee546dc6c | `$` UPN: address as `/users('$lidia@contoso.com')`; 1 device |
//! | patti.o'fernandez@contoso.com | Patti O'Fernandez | e8b753b5-4117-464e-9a08-713e1ff266b3 | apostrophe UPN; 1 macOS device, also Intune-managed (app-only tokens cannot disable it) |
//! | pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com | Pradeep Gupta (Fabrikam) | 40079818-3808-4585-903b-02605f061225 | Guest; `#` must be sent as `%23`; no Exchange Online mailbox |
//! | grady@contoso.com | Grady Archie | ec63c778-24e1-4240-bea3-d12a167d5232 | synced from AD (`onPremisesSecurityIdentifier` [`contoso_ids::GRADY_SID`]; an AD account Defender for Identity can act on); 1 hybrid-joined (ServerAd, synced) device |
//! | johanna@contoso.com | Johanna Lorenz | 626cbf8c-5dde-46b0-8385-9e40d64736fe | already disabled; 1 disabled device |
//! | isaiah@contoso.com | Isaiah Langer | 0b746c5a-68f1-4a1d-b2c3-8f3e2a4d9e71 | User Administrator (privileged target); 1 device |
//! | kiosk@contoso.com | Shared Kiosk Operator | 9c4d2f1e-7a6b-4c5d-8e3f-1a2b3c4d5e6f | 120 devices (Windows + Android); no Exchange Online mailbox |
//! | zoe@contoso.com | Zoë Ørsted | 5f8e7d6c-4b3a-4291-8a7b-6c5d4e3f2a1b | 1 Linux device |
//! | breakglass@contoso.com | Emergency Access | d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a | Global Administrator; no devices |
//! | lynne@contoso.com | Lynne Robbins | 3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1c | no registered devices; in Intune: a Windows desktop joined by Autopilot (an Entra device with no registered user) and an Android phone not registered in Entra |
//! | nestor@contoso.com | Nestor Wilke | b7c9d1e3-5f7a-4b9c-8d1e-3f5a7b9c1d2e | Windows laptop + Android phone; methods: password, mobile phone (the default), Microsoft Authenticator; inbox rules "Security alerts" (deletes) and "Team updates" (moves); a consent to PDF Helper Online |
//! | user01..user40@contoso.com | Contoso User NN | 0c000000-0000-4000-8000-0000000000NN (hex) | plain members |
//!
//! Device object ids are `1d000000-0000-4000-8000-{n:012x}` and deviceIds
//! `2d000000-0000-4000-8000-{n:012x}`, numbered in seeding order; read them through
//! [`Emulator::user`]`(..).device_ids`. Intune managed device ids are
//! `3d000000-0000-4000-8000-{n:012x}` ([`Emulator::user`]`(..).managed_device_ids`). The tenant
//! holds an Intune licence unless [`EmulatorConfig::intune`] is off (or
//! [`Emulator::set_intune`]), and Entra ID P2 unless [`EmulatorConfig::entra_id`] says otherwise
//! (or [`Emulator::set_entra_id`]).
//!
//! With [`EmulatorConfig::lockdown_setup`] the tenant has run `lockdown setup`: the group
//! "lockdown: blocked accounts" ([`contoso_ids::BLOCK_GROUP`], mailNickname `lockdown-blocked`, no
//! members) and an enabled Conditional Access policy ([`contoso_ids::BLOCK_POLICY`]) blocking it,
//! breakglass@contoso.com excluded; read them through [`Emulator::groups`] and
//! [`Emulator::conditional_access_policies`]. With [`EmulatorConfig::defender_for_identity`],
//! grady's AD account is listed under `security/identities/identityAccounts`; read what was done
//! to it through [`Emulator::on_premises_account`]. The sandbox turns both on.
//!
//! Every other user has only a password and an empty mailbox. The tenant also holds a
//! tenant-wide (`AllPrincipals`) consent to Contoso Expenses, which no user's list shows; the
//! service principals of the consented apps are [`contoso_apps`]. Read the incident state
//! through [`Emulator::auth_methods`], [`Emulator::inbox_rules`],
//! [`Emulator::permission_grants`] and [`Emulator::risky_user`]. With
//! [`EmulatorConfig::throttling`], authentication methods share the identity and access reports
//! limit (5 requests per 10 s) and Identity Protection takes 1 request per second (its 429
//! without `Retry-After`).
//!
//! Its sign-in logs start with a few sign-ins from before it started (Adele 26 and 3 hours ago,
//! a failed one for Grady 2 hours ago); tests add more with [`Emulator::add_sign_in`], also
//! while a client polls.
//!
//! Adele's history, for `lockdown evidence` (all relative to when the emulator starts): four
//! failed sign-ins 23 hours ago from 45.155.205.233, then a success from it; her FIDO2 key
//! registered 22 hours ago; directory audits for that registration (22 h), her consent to Mail
//! Sync Pro (21 h), a secret added to "Adele's Mail Helper" (20 h), the app registration she
//! owns with its service principal, and an admin's reset of her password 10 days ago. Tests add
//! audit records with [`Emulator::add_directory_audits`].

// A `Reply` is an HTTP answer of a test server, built once per request: its size does not
// matter, and boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

mod apps;
mod audits;
mod auth;
mod auth_methods;
mod batch;
mod conditional_access;
mod consents;
mod errors;
mod faults;
mod groups;
mod identity_accounts;
mod intune;
mod licences;
mod mail;
mod odata;
mod owned;
mod risk;
mod routes;
mod seed;
mod server;
mod sign_ins;
mod state;
mod sts;
mod tap;
pub mod throttle;
mod tls;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use apps::GRAPH_APP_ID;
pub use licences::EntraIdPlan;
pub use seed::apps as contoso_apps;
pub use seed::ids as contoso_ids;
pub use sign_ins::SignInSpec;
pub use state::ROLE_TEMPLATES;
/// The emulated tenant and its app registration, for the token endpoint.
pub use state::{APP_ID, TENANT_ID};
pub use sts::APP_CLIENT_SECRET;
pub use tap::Tap;

/// How the emulator is started.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Default [`Seed::Contoso`].
    pub seed: Seed,
    /// Added to every HTTP request (a `$batch` envelope counts once). Default 0.
    pub latency: Duration,
    /// Emulated seconds that pass per real second (default 1.0). Throttling buckets refill on
    /// the emulated clock, and `Retry-After` is whole emulated seconds.
    pub time_scale: f64,
    /// Enforce Graph's identity-and-access token buckets (default false).
    pub throttling: bool,
    /// Server-side cap on page size (default 999; tests lower it to force paging).
    pub max_page_size: usize,
    /// Injected faults, checked in order (default none).
    pub faults: Vec<FaultRule>,
    /// RNG seed for probabilistic faults.
    pub fault_seed: u64,
    /// Serve HTTPS with a throwaway certificate authority ([`Emulator::ca_pem`]); default off.
    pub tls: bool,
    /// Serve `POST /v1.0/$batch` (default on). Off, it answers like any unknown segment, as a
    /// proxy that does not pass batches would.
    pub batching: bool,
    /// Lifetime of the tokens the token endpoint issues (its `expires_in`), in wall-clock time.
    /// None (default): every sign-in gets [`Emulator::app_token`], valid for an hour from the
    /// start. Some: each sign-in gets a fresh app-only token that expires after this long
    /// (whole seconds, at least one), for runs that outlive their token.
    pub sts_token_lifetime: Option<Duration>,
    /// The tenant holds an Intune licence (default on). Off, Intune's endpoints
    /// (`/users/{id}/managedDevices`, `/deviceManagement/...`) answer 400 "Request not
    /// applicable to target tenant." as Graph does for a tenant without one.
    pub intune: bool,
    /// The tenant's Entra ID plan (default P2). [`EntraIdPlan::Free`] makes sign-in logs
    /// answer 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, as Graph does, and
    /// refuses Conditional Access policy writes.
    pub entra_id: EntraIdPlan,
    /// The tenant has run `lockdown setup` (default off): it holds the group "lockdown: blocked
    /// accounts" ([`contoso_ids::BLOCK_GROUP`]) and an enabled Conditional Access policy
    /// ([`contoso_ids::BLOCK_POLICY`]) blocking its members, breakglass@contoso.com excluded.
    /// The sandbox turns it on.
    pub lockdown_setup: bool,
    /// Microsoft Defender for Identity is deployed (default off): the synced users' AD
    /// accounts are listed under `security/identities/identityAccounts`, where actions can be
    /// taken on them. The sandbox turns it on.
    pub defender_for_identity: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: Seed::Contoso,
            latency: Duration::ZERO,
            time_scale: 1.0,
            throttling: false,
            max_page_size: 999,
            faults: Vec::new(),
            fault_seed: 0x10c6_d0a1,
            tls: false,
            batching: true,
            sts_token_lifetime: None,
            intune: true,
            entra_id: EntraIdPlan::P2,
            lockdown_setup: false,
            defender_for_identity: false,
        }
    }
}

/// The tenant the emulator starts with.
#[derive(Debug, Clone)]
pub enum Seed {
    /// The hand-made Contoso tenant (55 users: a medium tenant for throttling); see
    /// [`contoso_ids`] for the user ids.
    Contoso,
    /// admin@contoso.com plus `user{i:05}@contoso.com` (i from 1), each with
    /// `devices_per_user` Windows devices.
    Bulk {
        users: usize,
        devices_per_user: usize,
    },
}

/// One fault-injection rule.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Match e.g. "PATCH"; None = any.
    pub method: Option<String>,
    /// Substring match on the decoded request path (for batch items: the item's url).
    pub path_contains: Option<String>,
    /// 1.0 = always (when it matches).
    pub probability: f64,
    /// At most this many injections, then the rule is spent; None = unlimited.
    pub times: Option<usize>,
}

impl FaultRule {
    /// A rule that always fires, for any request, without limit.
    pub fn always(kind: FaultKind) -> FaultRule {
        FaultRule {
            kind,
            method: None,
            path_contains: None,
            probability: 1.0,
            times: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    /// 429 with Graph's body + Retry-After header.
    Throttle { retry_after_secs: u64 },
    /// 503.
    ServiceUnavailable { retry_after_secs: Option<u64> },
    /// 504.
    GatewayTimeout,
    /// Close the TCP connection without any response.
    DropConnection,
    /// Respond normally but only after `delay`.
    Slow { delay: Duration },
    /// The expected status with a truncated, invalid JSON body.
    MalformedJson,
    /// 302 to `location` (a hostile or broken proxy; never Graph's own behaviour).
    Redirect { location: String },
}

#[derive(Debug, Clone)]
pub enum TokenKind {
    Delegated { upn: String },
    AppOnly,
}

/// What an issued token grants. `permissions` are the `scp` (delegated) or `roles` (app)
/// values; `directory_roles` are role names (e.g. "User Administrator") or template ids. For a
/// delegated token the caller's effective roles are the user's roles in the tenant plus these.
/// How long it lives is given when it is issued ([`Emulator::issue_token_expiring`]).
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub kind: TokenKind,
    pub permissions: Vec<String>,
    pub directory_roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKindTag {
    Delegated,
    AppOnly,
    None,
    Invalid,
}

#[derive(Debug, Clone)]
pub struct UserState {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub account_enabled: bool,
    pub user_type: String,
    pub on_premises_sync_enabled: Option<bool>,
    pub sign_in_sessions_valid_from: time::OffsetDateTime,
    pub last_password_change: time::OffsetDateTime,
    /// Last password set through Graph, so tests can prove it never leaks.
    pub password: Option<String>,
    pub force_change_password_next_sign_in: bool,
    pub password_resets: usize,
    pub directory_roles: Vec<String>,
    /// Object ids of the devices whose registered user this is (`registeredDevices`).
    pub device_ids: Vec<String>,
    /// Ids of the Intune managed devices whose primary user this is (`managedDevices`).
    pub managed_device_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DeviceState {
    pub id: String,
    pub device_id: String,
    pub display_name: String,
    pub operating_system: String,
    pub account_enabled: bool,
    pub trust_type: String,
    pub on_premises_sync_enabled: Option<bool>,
}

/// An authentication method as tests see it.
#[derive(Debug, Clone)]
pub struct AuthMethodState {
    pub id: String,
    /// `password`, `phone`, `microsoftAuthenticator`, `fido2`, ...
    pub kind: String,
    /// The user's default multifactor method.
    pub is_default: bool,
}

/// An inbox rule as tests see it.
#[derive(Debug, Clone)]
pub struct InboxRuleState {
    pub id: String,
    pub display_name: String,
    pub is_enabled: bool,
    pub is_read_only: bool,
}

/// A delegated permission grant as tests see it.
#[derive(Debug, Clone)]
pub struct GrantState {
    pub id: String,
    pub client_id: String,
    /// `Principal` or `AllPrincipals`.
    pub consent_type: String,
    pub principal_id: Option<String>,
    pub scope: String,
}

/// Identity Protection's record of a user.
#[derive(Debug, Clone)]
pub struct RiskState {
    pub risk_level: String,
    pub risk_state: String,
}

/// A group as tests see it.
#[derive(Debug, Clone)]
pub struct GroupState {
    pub id: String,
    pub display_name: String,
    pub mail_nickname: String,
    pub description: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    /// Members' object ids.
    pub members: Vec<String>,
}

/// A synced user's on-premises AD account as tests see it (what Defender for Identity acted on).
#[derive(Debug, Clone)]
pub struct OnPremisesState {
    pub sid: String,
    /// Enabled now (an action accepted takes a few emulated seconds to land).
    pub enabled: bool,
    pub password_resets: usize,
    /// Every action Defender for Identity accepted for it, in order.
    pub actions: Vec<String>,
}

/// An Intune managed device as tests see it.
#[derive(Debug, Clone)]
pub struct ManagedDeviceState {
    pub id: String,
    pub device_name: String,
    pub operating_system: String,
    /// The Entra device's `deviceId` (the nil GUID when it has none).
    pub azure_ad_device_id: String,
    /// The primary user.
    pub user_principal_name: String,
    /// How many `remoteLock` actions it received.
    pub remote_locks: usize,
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    /// Percent-decoded path, e.g. "/v1.0/users/adele@contoso.com".
    pub path: String,
    /// As received, still encoded.
    pub raw_path: String,
    pub query: String,
    /// 0 while in flight, and for dropped connections.
    pub status: u16,
    pub in_batch: bool,
    pub token: TokenKindTag,
    /// `x-ms-throttle-priority` as sent (on the request, or on the item of a batch), lower
    /// case. learn: graph/throttling, "Throttling priority": it does not change the limits.
    pub priority: Option<String>,
    /// When it was taken in (a batch's items: when each ran), for benchmarks that time when
    /// a write took effect.
    pub at: std::time::Instant,
}

impl RequestRecord {
    /// POST/PATCH/PUT/DELETE, excluding the POST /$batch envelope itself.
    pub fn is_write(&self) -> bool {
        let write = matches!(self.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE");
        let envelope = !self.in_batch && self.path.trim_end_matches('/').ends_with("/$batch");
        write && !envelope
    }
}

/// A running emulator. Clones share the server; it stops on [`Emulator::shutdown`] or when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct Emulator {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    guard: Arc<server::ShutdownGuard>,
}

impl Emulator {
    /// Bind 127.0.0.1:0 and serve on the current tokio runtime (tokio::spawn).
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Same, on a chosen address (for `lockdown sandbox --listen`).
    pub async fn start_on(addr: SocketAddr, config: EmulatorConfig) -> std::io::Result<Emulator> {
        let (shared, addr, guard) = server::start(addr, config).await?;
        Ok(Emulator {
            shared,
            addr,
            guard: Arc::new(guard),
        })
    }

    /// The authority to trust (PEM) when serving HTTPS, e.g. through `SSL_CERT_FILE`.
    pub fn ca_pem(&self) -> Option<String> {
        self.shared.ca_pem.clone()
    }

    /// "http://127.0.0.1:PORT" ("https://" with `tls`): the Graph root, and the sign-in
    /// authority; Graph routes live under /v1.0/...
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delegated token of admin@contoso.com: Global Administrator, full delegated scopes.
    pub fn admin_token(&self) -> String {
        self.shared.admin_token.clone()
    }

    /// App-only token: User.Read.All, User.EnableDisableAccount.All, User.RevokeSessions.All,
    /// User-PasswordProfile.ReadWrite.All, Device.ReadWrite.All, Directory.Read.All,
    /// RoleManagement.Read.Directory, Application.Read.All, Organization.Read.All,
    /// AuditLog.Read.All, DeviceManagementManagedDevices.Read.All,
    /// DeviceManagementManagedDevices.PrivilegedOperations.All (also the app's role
    /// assignments); the app holds the User Administrator role.
    pub fn app_token(&self) -> String {
        self.shared.app_token.clone()
    }

    /// Issue a token valid for an hour. Panics if a delegated token names a user the tenant
    /// does not have.
    pub fn issue_token(&self, spec: TokenSpec) -> String {
        self.issue_token_expiring(spec, auth::DEFAULT_LIFETIME)
    }

    /// Issue a token that expires `lifetime` from now (wall-clock time, not the emulated
    /// clock): its `exp` claim says so, and from then on Graph's 401
    /// `InvalidAuthenticationToken` "Lifetime validation failed, the token is expired." answers
    /// it. Panics like [`Emulator::issue_token`].
    pub fn issue_token_expiring(&self, spec: TokenSpec, lifetime: Duration) -> String {
        let mut tenant = lock(&self.shared.tenant);
        auth::issue(&mut tenant, &spec, lifetime)
    }

    /// Case-insensitive UPN or id.
    pub fn user(&self, id_or_upn: &str) -> Option<UserState> {
        let tenant = lock(&self.shared.tenant);
        tenant.find_user(id_or_upn).map(|i| tenant.user_state(i))
    }

    pub fn device(&self, id: &str) -> Option<DeviceState> {
        let tenant = lock(&self.shared.tenant);
        tenant.find_device(id).map(|i| tenant.device_state(i))
    }

    /// An Intune managed device by its id.
    pub fn managed_device(&self, id: &str) -> Option<ManagedDeviceState> {
        let tenant = lock(&self.shared.tenant);
        tenant
            .find_managed_device(id)
            .map(|i| tenant.managed_device_state(i))
    }

    /// The Entra device with this `deviceId` (not its object id).
    pub fn device_by_device_id(&self, device_id: &str) -> Option<DeviceState> {
        let tenant = lock(&self.shared.tenant);
        tenant
            .find_device_by_device_id(device_id)
            .map(|i| tenant.device_state(i))
    }

    /// Give the tenant an Intune licence, or take it away.
    pub fn set_intune(&self, licensed: bool) {
        lock(&self.shared.tenant).intune = licensed;
    }

    /// The user's authentication methods (case-insensitive UPN or id).
    pub fn auth_methods(&self, id_or_upn: &str) -> Vec<AuthMethodState> {
        let tenant = lock(&self.shared.tenant);
        let Some(i) = tenant.find_user(id_or_upn) else {
            return Vec::new();
        };
        let u = &tenant.users[i];
        u.methods
            .iter()
            .map(|m| AuthMethodState {
                id: m.id.clone(),
                kind: m.kind.short_name().to_string(),
                is_default: u.default_method.as_deref() == Some(m.id.as_str()),
            })
            .collect()
    }

    /// The user's inbox rules; `None` when it has no Exchange Online mailbox.
    pub fn inbox_rules(&self, id_or_upn: &str) -> Option<Vec<InboxRuleState>> {
        let tenant = lock(&self.shared.tenant);
        let i = tenant.find_user(id_or_upn)?;
        tenant.users[i].mailbox.as_ref().map(|m| {
            m.rules
                .iter()
                .map(|r| InboxRuleState {
                    id: r.id.clone(),
                    display_name: r.display_name.clone(),
                    is_enabled: r.is_enabled,
                    is_read_only: r.is_read_only,
                })
                .collect()
        })
    }

    /// Every delegated permission grant in the tenant.
    pub fn permission_grants(&self) -> Vec<GrantState> {
        lock(&self.shared.tenant)
            .grants
            .iter()
            .map(|g| GrantState {
                id: g.id.clone(),
                client_id: g.client_id.clone(),
                consent_type: g.consent_type.to_string(),
                principal_id: g.principal_id.clone(),
                scope: g.scope.clone(),
            })
            .collect()
    }

    /// Identity Protection's record of the user, if it was ever flagged.
    pub fn risky_user(&self, id_or_upn: &str) -> Option<RiskState> {
        let tenant = lock(&self.shared.tenant);
        let i = tenant.find_user(id_or_upn)?;
        tenant.users[i].risk.as_ref().map(|r| RiskState {
            risk_level: r.level.to_string(),
            risk_state: r.state.to_string(),
        })
    }

    /// Every group in the tenant.
    pub fn groups(&self) -> Vec<GroupState> {
        let tenant = lock(&self.shared.tenant);
        tenant
            .groups
            .iter()
            .map(|g| GroupState {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                mail_nickname: g.mail_nickname.clone(),
                description: g.description.clone(),
                mail_enabled: g.mail_enabled,
                security_enabled: g.security_enabled,
                members: g
                    .members
                    .iter()
                    .map(|u| tenant.users[*u].id.clone())
                    .collect(),
            })
            .collect()
    }

    /// Every Conditional Access policy, as Graph returns it.
    pub fn conditional_access_policies(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.tenant)
            .ca_policies
            .iter()
            .cloned()
            .map(serde_json::Value::Object)
            .collect()
    }

    /// Change a Conditional Access policy as an administrator would in the portal: `change`
    /// edits its JSON. Panics when there is no policy with this id.
    pub fn edit_conditional_access_policy(
        &self,
        id: &str,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) {
        let mut tenant = lock(&self.shared.tenant);
        let policy = tenant
            .ca_policies
            .iter_mut()
            .find(|p| p.get("id").and_then(|v| v.as_str()) == Some(id))
            .unwrap_or_else(|| panic!("no Conditional Access policy {id}"));
        change(policy);
    }

    /// Add a user to a group, as someone would outside lockdown. Panics if either is missing.
    pub fn add_group_member(&self, group: &str, user: &str) {
        let mut tenant = lock(&self.shared.tenant);
        let u = tenant.find_user(user).expect("the user exists");
        let g = tenant
            .groups
            .iter_mut()
            .find(|g| g.id.eq_ignore_ascii_case(group))
            .expect("the group exists");
        if !g.members.contains(&u) {
            g.members.push(u);
        }
    }

    /// The on-premises AD account of a synced user, if it has one.
    pub fn on_premises_account(&self, id_or_upn: &str) -> Option<OnPremisesState> {
        let now = self.shared.emulated_secs();
        let mut tenant = lock(&self.shared.tenant);
        let i = tenant.find_user(id_or_upn)?;
        let ad = tenant.users[i].on_premises.as_mut()?;
        ad.settle(now);
        Some(OnPremisesState {
            sid: ad.sid.clone(),
            enabled: ad.enabled,
            password_resets: ad.password_resets,
            actions: ad.actions.clone(),
        })
    }

    /// Deploy Microsoft Defender for Identity, or take it away.
    pub fn set_defender_for_identity(&self, deployed: bool) {
        lock(&self.shared.tenant).defender_for_identity = deployed;
    }

    /// Change the tenant's Entra ID plan (`GET /subscribedSkus` and sign-in logs follow).
    pub fn set_entra_id(&self, plan: EntraIdPlan) {
        lock(&self.shared.tenant).entra_id = plan;
    }

    /// Add a sign-in to the tenant's sign-in logs (at any time, also while a client polls
    /// them); returns its id. Panics if the user does not exist.
    pub fn add_sign_in(&self, spec: SignInSpec) -> String {
        sign_ins::add(&mut lock(&self.shared.tenant), spec)
    }

    /// Add `n` routine directory audit records ("Update user" by an app) with `id_or_upn` as
    /// their target, one a minute back from now; panics if the user does not exist.
    pub fn add_directory_audits(&self, id_or_upn: &str, n: usize) {
        let mut tenant = lock(&self.shared.tenant);
        let user = tenant
            .find_user(id_or_upn)
            .unwrap_or_else(|| panic!("add_directory_audits: no user {id_or_upn:?}"));
        audits::add_routine(&mut tenant, user, n);
    }

    /// The Microsoft Graph application permissions granted to lockdown's app (its app role
    /// assignments, as `GET /servicePrincipals/{id}/appRoleAssignments` lists them).
    pub fn app_permissions(&self) -> Vec<String> {
        lock(&self.shared.tenant).app_role_assignments.clone()
    }

    /// Grant or revoke application permissions after tokens were issued: tokens already issued
    /// keep their `roles` claim (and what it grants), as a real token does until it expires.
    pub fn set_app_permissions(&self, permissions: &[&str]) {
        lock(&self.shared.tenant).app_role_assignments =
            permissions.iter().map(|p| p.to_string()).collect();
    }

    pub fn users(&self) -> Vec<UserState> {
        let tenant = lock(&self.shared.tenant);
        (0..tenant.users.len())
            .map(|i| tenant.user_state(i))
            .collect()
    }

    /// Every HTTP request and every `$batch` item, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.tenant).requests.clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.tenant).clear_requests();
    }

    /// The Temporary Access Pass issued to a user (case-insensitive UPN or id), if any: for tests
    /// proving the pass reached stdout and nowhere else.
    pub fn temporary_access_pass(&self, id_or_upn: &str) -> Option<Tap> {
        let tenant = lock(&self.shared.tenant);
        let idx = tenant.find_user(id_or_upn)?;
        tenant.taps.get(&idx).cloned()
    }

    /// Allow or refuse Temporary Access Pass, as the tenant's authentication methods policy
    /// does (allowed at start).
    pub fn set_temporary_access_pass_policy(&self, allowed: bool) {
        lock(&self.shared.tenant).tap_disabled = !allowed;
    }

    pub fn set_faults(&self, faults: Vec<FaultRule>) {
        lock(&self.shared.faults).set(faults);
    }

    /// Stop serving (also happens when the last clone is dropped).
    pub fn shutdown(self) {
        self.guard.stop();
    }
}

/// Lock a mutex, ignoring poisoning (a panicking test must not wedge the others).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
