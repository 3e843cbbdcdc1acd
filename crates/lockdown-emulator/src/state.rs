//! The tenant's state: users, devices, roles, issued tokens, the request log.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{DeviceState, ManagedDeviceState, RequestRecord, UserState};

pub const TENANT_ID: &str = "6f1c2a4e-3b7d-4c8e-9a1f-2d5b7e9c0a13";
/// The one registered client application every emulator token belongs to (throttling is per
/// app + tenant).
pub const APP_ID: &str = "b5c6d7e8-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
/// Object id of the app's service principal (the `oid` of app-only tokens).
pub(crate) const APP_SP_ID: &str = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";

/// Directory roles the emulator knows, with their real role template ids.
/// learn: entra/identity/role-based-access-control/permissions-reference
pub const ROLE_TEMPLATES: &[(&str, &str)] = &[
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    (
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    (
        "Cloud Device Administrator",
        "7698a772-787b-4ac8-901f-60d6b08affd2",
    ),
    (
        "Intune Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
    ),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    (
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    (
        "Password Administrator",
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
    ),
    (
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    ("Security Reader", "5d6b6bb7-de71-4623-b4af-96380a352509"),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    (
        "Cloud Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ),
    (
        "Conditional Access Administrator",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    ),
    (
        "Groups Administrator",
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    ),
];

/// Canonical role name for a display name or template id (case-insensitive).
pub(crate) fn canonical_role(name: &str) -> Option<&'static str> {
    ROLE_TEMPLATES
        .iter()
        .find(|(n, id)| n.eq_ignore_ascii_case(name) || id.eq_ignore_ascii_case(name))
        .map(|(n, _)| *n)
}

pub(crate) fn role_template_id(name: &str) -> &'static str {
    ROLE_TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
        .unwrap_or("00000000-0000-0000-0000-000000000000")
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub account_enabled: bool,
    pub guest: bool,
    pub on_premises_sync_enabled: Option<bool>,
    pub sign_in_sessions_valid_from: OffsetDateTime,
    pub last_password_change: OffsetDateTime,
    pub created: OffsetDateTime,
    pub password: Option<String>,
    pub force_change_password_next_sign_in: bool,
    pub force_change_password_next_sign_in_with_mfa: bool,
    pub password_resets: usize,
    pub roles: Vec<&'static str>,
    pub devices: Vec<usize>,
    /// Registered authentication methods, the password first.
    pub methods: Vec<super::auth_methods::Method>,
    /// The id of the default multifactor method, which Graph will not delete while others
    /// remain (v1.0 does not show which one it is).
    pub default_method: Option<String>,
    /// `None`: no Exchange Online mailbox.
    pub mailbox: Option<super::mail::Mailbox>,
    /// Identity Protection's record of the user, once it was flagged.
    pub risk: Option<super::risk::Risk>,
    /// The on-premises AD account of a user synced from it (`onPremisesSecurityIdentifier`,
    /// and what Defender for Identity sees of it).
    pub on_premises: Option<super::identity_accounts::AdAccount>,
}

impl User {
    pub fn user_type(&self) -> &'static str {
        if self.guest {
            "Guest"
        } else {
            "Member"
        }
    }

    pub fn is_privileged(&self) -> bool {
        !self.roles.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub id: String,
    pub device_id: String,
    pub display_name: String,
    pub operating_system: &'static str,
    pub operating_system_version: &'static str,
    pub account_enabled: bool,
    /// "AzureAd" (joined), "Workplace" (registered), "ServerAd" (hybrid joined).
    pub trust_type: &'static str,
    pub on_premises_sync_enabled: Option<bool>,
    pub registered: OffsetDateTime,
    /// The registered user, whose `registeredDevices` lists it. `None` for a device joined
    /// without one (Autopilot self-deploying, bulk enrolment): only Intune links it to a user.
    pub owner: Option<usize>,
}

impl Device {
    pub fn is_windows(&self) -> bool {
        self.operating_system.eq_ignore_ascii_case("Windows")
    }
}

/// An Intune managed device (learn: graph/api/resources/intune-devices-manageddevice).
#[derive(Debug, Clone)]
pub(crate) struct ManagedDevice {
    pub id: String,
    pub device_name: String,
    pub operating_system: &'static str,
    pub os_version: &'static str,
    /// The Entra device's `deviceId`; the nil GUID when the device is not registered in Entra.
    pub azure_ad_device_id: String,
    /// The primary user.
    pub user: usize,
    pub enrolled: OffsetDateTime,
    /// `remoteLock` actions received.
    pub remote_locks: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Delegated { user: usize },
    App,
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub caller: Caller,
    /// Lower-cased permission names (scp or roles claim).
    pub permissions: Vec<String>,
    /// Canonical directory role names held by the caller (the signed-in user, or the app).
    pub roles: Vec<&'static str>,
    /// When the token stops being accepted (its `exp`).
    pub expires: OffsetDateTime,
}

impl Identity {
    pub fn has_any(&self, perms: &[&str]) -> bool {
        perms
            .iter()
            .any(|p| self.permissions.iter().any(|h| h.eq_ignore_ascii_case(p)))
    }

    pub fn has_role(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    pub fn is_app(&self) -> bool {
        matches!(self.caller, Caller::App)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub users: Vec<User>,
    pub devices: Vec<Device>,
    pub by_upn: HashMap<String, usize>,
    pub by_id: HashMap<String, usize>,
    pub device_by_id: HashMap<String, usize>,
    /// Entra devices by `deviceId` (the alternate key `devices(deviceId='...')`).
    pub device_by_device_id: HashMap<String, usize>,
    pub managed_devices: Vec<ManagedDevice>,
    pub managed_by_id: HashMap<String, usize>,
    /// The tenant holds an Intune licence; without one Intune's endpoints answer 400.
    pub intune: bool,
    pub tokens: HashMap<String, Identity>,
    pub requests: Vec<RequestRecord>,
    /// Sequence number of each entry in `requests` (so a status can be filled in later even if
    /// the log was cleared meanwhile).
    pub request_seqs: Vec<u64>,
    pub next_seq: u64,
    /// Temporary Access Passes issued, by user index (one usable pass per user).
    pub taps: HashMap<usize, super::tap::Tap>,
    /// The authentication methods policy does not allow Temporary Access Pass.
    pub tap_disabled: bool,
    /// The tenant's Entra ID plan (`GET /subscribedSkus`; sign-in logs need P1 or P2).
    pub entra_id: super::licences::EntraIdPlan,
    /// Sign-in log records, in the order they were added.
    pub sign_ins: Vec<super::sign_ins::SignIn>,
    /// Directory audit log records, in the order they were added.
    pub audits: Vec<super::audits::Audit>,
    /// App registrations and service principals users own.
    pub owned_apps: Vec<super::owned::OwnedApp>,
    /// The Microsoft Graph application permissions granted to lockdown's app (its app role
    /// assignments); an app-only token's `roles` are taken from them when it is issued.
    pub app_role_assignments: Vec<String>,
    /// Delegated permission grants: users' own consents and tenant-wide ones.
    pub grants: Vec<super::consents::Grant>,
    /// The service principals of the apps the grants are for.
    pub client_apps: Vec<super::consents::ClientApp>,
    /// Groups (security groups lockdown creates; the emulated tenant starts with none unless
    /// it has run `lockdown setup`).
    pub groups: Vec<super::groups::Group>,
    /// Conditional Access policies, as stored (JSON objects with their id).
    pub ca_policies: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Microsoft Defender for Identity is deployed: `security/identities/identityAccounts`
    /// lists the synced users' AD accounts.
    pub defender_for_identity: bool,
}

impl Tenant {
    pub fn add_user(&mut self, user: User) -> usize {
        let idx = self.users.len();
        self.by_upn.insert(user.upn.to_lowercase(), idx);
        self.by_id.insert(user.id.to_lowercase(), idx);
        self.users.push(user);
        idx
    }

    pub fn add_device(&mut self, device: Device) -> usize {
        let idx = self.devices.len();
        self.device_by_id.insert(device.id.to_lowercase(), idx);
        self.device_by_device_id
            .insert(device.device_id.to_lowercase(), idx);
        if let Some(owner) = device.owner {
            self.users[owner].devices.push(idx);
        }
        self.devices.push(device);
        idx
    }

    pub fn add_managed_device(&mut self, device: ManagedDevice) -> usize {
        let idx = self.managed_devices.len();
        self.managed_by_id.insert(device.id.to_lowercase(), idx);
        self.managed_devices.push(device);
        idx
    }

    pub fn find_managed_device(&self, id: &str) -> Option<usize> {
        self.managed_by_id.get(&id.to_lowercase()).copied()
    }

    /// The user's managed devices (Intune's primary user), in enrolment order.
    pub fn managed_devices_of(&self, user: usize) -> Vec<usize> {
        (0..self.managed_devices.len())
            .filter(|&m| self.managed_devices[m].user == user)
            .collect()
    }

    pub fn record(&mut self, rec: RequestRecord) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.requests.push(rec);
        self.request_seqs.push(seq);
        seq
    }

    pub fn set_status(&mut self, seq: u64, status: u16) {
        if let Some(pos) = self.request_seqs.iter().rposition(|s| *s == seq) {
            self.requests[pos].status = status;
        }
    }

    pub fn clear_requests(&mut self) {
        self.requests.clear();
        self.request_seqs.clear();
    }

    /// learn: graph/api/user-get — `{id | userPrincipalName}`; UPNs compare case-insensitively.
    pub fn find_user(&self, key: &str) -> Option<usize> {
        let k = key.to_lowercase();
        self.by_id.get(&k).or_else(|| self.by_upn.get(&k)).copied()
    }

    pub fn find_device(&self, id: &str) -> Option<usize> {
        self.device_by_id.get(&id.to_lowercase()).copied()
    }

    pub fn find_device_by_device_id(&self, device_id: &str) -> Option<usize> {
        self.device_by_device_id
            .get(&device_id.to_lowercase())
            .copied()
    }

    pub fn user_state(&self, idx: usize) -> UserState {
        let u = &self.users[idx];
        UserState {
            id: u.id.clone(),
            user_principal_name: u.upn.clone(),
            display_name: u.display_name.clone(),
            account_enabled: u.account_enabled,
            user_type: u.user_type().to_string(),
            on_premises_sync_enabled: u.on_premises_sync_enabled,
            sign_in_sessions_valid_from: u.sign_in_sessions_valid_from,
            last_password_change: u.last_password_change,
            password: u.password.clone(),
            force_change_password_next_sign_in: u.force_change_password_next_sign_in,
            password_resets: u.password_resets,
            directory_roles: u.roles.iter().map(|r| r.to_string()).collect(),
            device_ids: u
                .devices
                .iter()
                .map(|d| self.devices[*d].id.clone())
                .collect(),
            managed_device_ids: self
                .managed_devices_of(idx)
                .into_iter()
                .map(|m| self.managed_devices[m].id.clone())
                .collect(),
        }
    }

    pub fn managed_device_state(&self, idx: usize) -> ManagedDeviceState {
        let m = &self.managed_devices[idx];
        ManagedDeviceState {
            id: m.id.clone(),
            device_name: m.device_name.clone(),
            operating_system: m.operating_system.to_string(),
            azure_ad_device_id: m.azure_ad_device_id.clone(),
            user_principal_name: self.users[m.user].upn.clone(),
            remote_locks: m.remote_locks,
        }
    }

    pub fn device_state(&self, idx: usize) -> DeviceState {
        let d = &self.devices[idx];
        DeviceState {
            id: d.id.clone(),
            device_id: d.device_id.clone(),
            display_name: d.display_name.clone(),
            operating_system: d.operating_system.to_string(),
            account_enabled: d.account_enabled,
            trust_type: d.trust_type.to_string(),
            on_premises_sync_enabled: d.on_premises_sync_enabled,
        }
    }
}

/// `2026-11-29T13:45:12Z`: whole seconds, UTC (how Graph writes DateTimeOffset values).
pub(crate) fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// innerError.date as Graph writes it (`2021-02-18T16:58:14`, no zone designator).
pub(crate) fn format_inner_date(t: OffsetDateTime) -> String {
    let mut s = format_datetime(t);
    s.pop();
    s
}

pub(crate) fn now_whole_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}
