//! The two seeds: the hand-made Contoso tenant and a generated bulk tenant.

use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

use serde_json::json;

use super::auth_methods::{Kind, Method};
use super::consents::{ClientApp, Grant};
use super::mail::{Mailbox, Rule};
use super::risk::Risk;
use super::state::{Device, ManagedDevice, Tenant, User};

const CREATED: OffsetDateTime = datetime!(2023-03-14 09:00:00 UTC);
const SESSIONS_VALID_FROM: OffsetDateTime = datetime!(2025-09-01 08:00:00 UTC);
const PASSWORD_CHANGED: OffsetDateTime = datetime!(2025-06-15 10:30:00 UTC);

/// Object ids of the Contoso users (stable, so docs and tests can name them).
pub mod ids {
    pub const ADMIN: &str = "8a1d4c2e-5b3f-4e6a-9c7d-1e2f3a4b5c6d";
    pub const ADELE: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
    pub const ALEX: &str = "4782e723-f4f4-4af3-a76e-25e3bab0d896";
    pub const DIEGO: &str = "c03e6eaa-b6ab-46d7-905b-73ec7ea1f755";
    pub const LIDIA: &str = "2ed03dfd-01d8-4005-a9ef-fa8ee546dc6c";
    pub const PATTI: &str = "e8b753b5-4117-464e-9a08-713e1ff266b3";
    pub const PRADEEP: &str = "40079818-3808-4585-903b-02605f061225";
    pub const GRADY: &str = "ec63c778-24e1-4240-bea3-d12a167d5232";
    pub const JOHANNA: &str = "626cbf8c-5dde-46b0-8385-9e40d64736fe";
    pub const ISAIAH: &str = "0b746c5a-68f1-4a1d-b2c3-8f3e2a4d9e71";
    pub const KIOSK: &str = "9c4d2f1e-7a6b-4c5d-8e3f-1a2b3c4d5e6f";
    pub const ZOE: &str = "5f8e7d6c-4b3a-4291-8a7b-6c5d4e3f2a1b";
    pub const BREAKGLASS: &str = "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a";
    pub const LYNNE: &str = "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1c";
    pub const NESTOR: &str = "b7c9d1e3-5f7a-4b9c-8d1e-3f5a7b9c1d2e";
    /// The "lockdown: blocked accounts" group of a tenant that has run `lockdown setup`.
    pub const BLOCK_GROUP: &str = "6b10c4ed-0000-4000-8000-0000000b10c0";
    /// Its Conditional Access policy.
    pub const BLOCK_POLICY: &str = "6b10c4ed-0000-4000-8000-0000000b10c1";
    /// Grady's on-premises security identifier.
    pub const GRADY_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1107";
}

fn numbered_uuid(base: u128, n: u64) -> String {
    Uuid::from_u128(base | n as u128).to_string()
}

const DEVICE_OBJECT_BASE: u128 = 0x1d000000_0000_4000_8000_000000000000;
const DEVICE_ID_BASE: u128 = 0x2d000000_0000_4000_8000_000000000000;
const BULK_USER_BASE: u128 = 0x0b000000_0000_4000_8000_000000000000;
const PLAIN_USER_BASE: u128 = 0x0c000000_0000_4000_8000_000000000000;
const MANAGED_DEVICE_BASE: u128 = 0x3d000000_0000_4000_8000_000000000000;
/// Intune's `azureADDeviceId` for a device not registered in Entra ID.
const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

struct DeviceSpec {
    name: String,
    os: &'static str,
    version: &'static str,
    trust: &'static str,
    enabled: bool,
    synced: Option<bool>,
}

fn dev(name: impl Into<String>, os: &'static str) -> DeviceSpec {
    let (version, trust) = match os {
        "Windows" => ("10.0.22631.4460", "AzureAd"),
        "iOS" => ("18.1.1", "Workplace"),
        "Android" => ("15.0", "Workplace"),
        "macOS" => ("15.1.1", "Workplace"),
        "Linux" => ("24.04", "Workplace"),
        _ => ("", "Workplace"),
    };
    DeviceSpec {
        name: name.into(),
        os,
        version,
        trust,
        enabled: true,
        synced: None,
    }
}

fn push_device(t: &mut Tenant, owner: usize, spec: DeviceSpec) -> usize {
    add_device(t, Some(owner), spec)
}

fn add_device(t: &mut Tenant, owner: Option<usize>, spec: DeviceSpec) -> usize {
    let n = t.devices.len() as u64 + 1;
    t.add_device(Device {
        id: numbered_uuid(DEVICE_OBJECT_BASE, n),
        device_id: numbered_uuid(DEVICE_ID_BASE, n),
        display_name: spec.name,
        operating_system: spec.os,
        operating_system_version: spec.version,
        account_enabled: spec.enabled,
        trust_type: spec.trust,
        on_premises_sync_enabled: spec.synced,
        registered: CREATED,
        owner,
    })
}

/// Enrol a device in Intune with `user` as its primary user. `entra` is the Entra device it
/// is registered as (its `deviceId` becomes `azureADDeviceId`), if any.
/// learn: graph/api/resources/intune-devices-manageddevice (azureADDeviceId, operatingSystem
/// as Intune writes it: "Windows", "iOS", "Android", "macOS").
fn enrol(
    t: &mut Tenant,
    user: usize,
    entra: Option<usize>,
    name: &str,
    os: &'static str,
    os_version: &'static str,
) {
    let n = t.managed_devices.len() as u64 + 1;
    let azure_ad_device_id = match entra {
        Some(d) => t.devices[d].device_id.clone(),
        None => NIL_GUID.to_string(),
    };
    t.add_managed_device(ManagedDevice {
        id: numbered_uuid(MANAGED_DEVICE_BASE, n),
        device_name: name.to_string(),
        operating_system: os,
        os_version,
        azure_ad_device_id,
        user,
        enrolled: CREATED,
        remote_locks: 0,
    });
}

fn user(
    id: &str,
    upn: &str,
    display: &str,
    given: Option<&str>,
    surname: Option<&str>,
    job: Option<&str>,
) -> User {
    User {
        id: id.to_string(),
        upn: upn.to_string(),
        display_name: display.to_string(),
        given_name: given.map(str::to_string),
        surname: surname.map(str::to_string),
        job_title: job.map(str::to_string),
        mail: Some(upn.to_string()),
        account_enabled: true,
        guest: false,
        on_premises_sync_enabled: None,
        sign_in_sessions_valid_from: SESSIONS_VALID_FROM,
        last_password_change: PASSWORD_CHANGED,
        created: CREATED,
        password: None,
        force_change_password_next_sign_in: false,
        force_change_password_next_sign_in_with_mfa: false,
        password_resets: 0,
        roles: Vec::new(),
        devices: Vec::new(),
        methods: vec![Method::password(CREATED)],
        default_method: None,
        mailbox: Some(Mailbox::default()),
        risk: None,
        on_premises: None,
    }
}

/// Contoso: 55 users, which is a **medium (M, 50–500 users)** tenant for Graph's identity and
/// access throttling (learn: graph/throttling-limits, "Identity and access service limits").
pub(crate) fn contoso() -> Tenant {
    let mut t = Tenant::default();

    let mut admin = user(
        ids::ADMIN,
        "admin@contoso.com",
        "Megan Bowen",
        Some("Megan"),
        Some("Bowen"),
        Some("IT Administrator"),
    );
    admin.roles = vec!["Global Administrator"];
    let admin = t.add_user(admin);
    push_device(&mut t, admin, dev("MEGANB-SURFACE", "Windows"));

    let adele = t.add_user(user(
        ids::ADELE,
        "adele@contoso.com",
        "Adele Vance",
        Some("Adele"),
        Some("Vance"),
        Some("Retail Manager"),
    ));
    let mut laptop = dev("ADELEV-LAPTOP", "Windows");
    laptop.version = "10.0.22631.4460"; // Windows 11 23H2
    let laptop = push_device(&mut t, adele, laptop);
    push_device(&mut t, adele, dev("Adele's iPhone", "iOS"));
    // The laptop is both registered and Intune-managed; the iPhone only registered.
    enrol(
        &mut t,
        adele,
        Some(laptop),
        "ADELEV-LAPTOP",
        "Windows",
        "10.0.22631.4460",
    );

    let alex = t.add_user(user(
        ids::ALEX,
        "alex@contoso.com",
        "Alex Wilber",
        Some("Alex"),
        Some("Wilber"),
        Some("Marketing Assistant"),
    ));
    push_device(&mut t, alex, dev("ALEXW-DESKTOP", "Windows"));

    t.add_user(user(
        ids::DIEGO,
        "diego@contoso.com",
        "Diego Siciliani",
        Some("Diego"),
        Some("Siciliani"),
        Some("HR Manager"),
    ));

    let lidia = t.add_user(user(
        ids::LIDIA,
        "$lidia@contoso.com",
        "Lidia Holloway",
        Some("Lidia"),
        Some("Holloway"),
        Some("Product Manager"),
    ));
    push_device(&mut t, lidia, dev("LIDIAH-LAPTOP", "Windows"));

    let patti = t.add_user(user(
        ids::PATTI,
        "patti.o'fernandez@contoso.com",
        "Patti O'Fernandez",
        Some("Patti"),
        Some("O'Fernandez"),
        Some("President"),
    ));
    // One spelling for both views of the Mac: Intune's documented `operatingSystem` value,
    // "macOS" (learn: graph/api/resources/intune-devices-manageddevice); Entra's device
    // `operatingSystem` is a free string (learn: graph/api/resources/device), spelt the same.
    let mac = push_device(&mut t, patti, dev("Patti's MacBook Pro", "macOS"));
    enrol(
        &mut t,
        patti,
        Some(mac),
        "Patti's MacBook Pro",
        "macOS",
        "15.1.1",
    );

    let mut pradeep = user(
        ids::PRADEEP,
        "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "Pradeep Gupta (Fabrikam)",
        Some("Pradeep"),
        Some("Gupta"),
        None,
    );
    pradeep.guest = true;
    pradeep.mail = Some("pradeep@fabrikam.com".to_string());
    t.add_user(pradeep);

    let mut grady = user(
        ids::GRADY,
        "grady@contoso.com",
        "Grady Archie",
        Some("Grady"),
        Some("Archie"),
        Some("Designer"),
    );
    grady.on_premises_sync_enabled = Some(true);
    grady.on_premises = Some(super::identity_accounts::AdAccount::new(
        ids::GRADY_SID,
        "7c1e4a2b-9d3f-4b6e-8a5c-2f4d6b8e0a1c",
    ));
    let grady = t.add_user(grady);
    let mut hybrid = dev("GRADYA-WS01", "Windows");
    hybrid.trust = "ServerAd";
    hybrid.synced = Some(true);
    push_device(&mut t, grady, hybrid);

    let mut johanna = user(
        ids::JOHANNA,
        "johanna@contoso.com",
        "Johanna Lorenz",
        Some("Johanna"),
        Some("Lorenz"),
        Some("Senior Engineer"),
    );
    johanna.account_enabled = false;
    let johanna = t.add_user(johanna);
    let mut off = dev("JOHANNAL-LAPTOP", "Windows");
    off.enabled = false;
    push_device(&mut t, johanna, off);

    let mut isaiah = user(
        ids::ISAIAH,
        "isaiah@contoso.com",
        "Isaiah Langer",
        Some("Isaiah"),
        Some("Langer"),
        Some("Sales Rep"),
    );
    isaiah.roles = vec!["User Administrator"];
    let isaiah = t.add_user(isaiah);
    push_device(&mut t, isaiah, dev("ISAIAHL-LAPTOP", "Windows"));

    let kiosk = t.add_user(user(
        ids::KIOSK,
        "kiosk@contoso.com",
        "Shared Kiosk Operator",
        None,
        None,
        Some("Kiosk"),
    ));
    for i in 1..=120 {
        if i % 3 == 0 {
            push_device(&mut t, kiosk, dev(format!("KIOSK-TAB-{i:03}"), "Android"));
        } else {
            push_device(&mut t, kiosk, dev(format!("KIOSK-PC-{i:03}"), "Windows"));
        }
    }

    let zoe = t.add_user(user(
        ids::ZOE,
        "zoe@contoso.com",
        "Zoë Ørsted",
        Some("Zoë"),
        Some("Ørsted"),
        Some("Research Scientist"),
    ));
    push_device(&mut t, zoe, dev("zoe-thinkpad", "Linux"));

    let mut bg = user(
        ids::BREAKGLASS,
        "breakglass@contoso.com",
        "Emergency Access",
        None,
        None,
        None,
    );
    bg.roles = vec!["Global Administrator"];
    bg.mail = None;
    t.add_user(bg);

    // Devices only Intune ties to her: a desktop joined by Autopilot (self-deploying, so it has
    // no registered user in Entra) and a phone enrolled without Entra registration.
    let lynne = t.add_user(user(
        ids::LYNNE,
        "lynne@contoso.com",
        "Lynne Robbins",
        Some("Lynne"),
        Some("Robbins"),
        Some("Planner"),
    ));
    let desktop = add_device(&mut t, None, dev("LYNNER-DESKTOP", "Windows"));
    enrol(
        &mut t,
        lynne,
        Some(desktop),
        "LYNNER-DESKTOP",
        "Windows",
        "10.0.22631.4460",
    );
    enrol(&mut t, lynne, None, "Lynne's Galaxy", "Android", "15.0");

    let nestor = t.add_user(user(
        ids::NESTOR,
        "nestor@contoso.com",
        "Nestor Wilke",
        Some("Nestor"),
        Some("Wilke"),
        Some("Director"),
    ));
    push_device(&mut t, nestor, dev("NESTORW-LAPTOP", "Windows"));
    push_device(&mut t, nestor, dev("Nestor's Pixel", "Android"));

    incident(&mut t);

    for i in 1..=40u64 {
        let upn = format!("user{i:02}@contoso.com");
        let display = format!("Contoso User {i:02}");
        let u = user(
            &numbered_uuid(PLAIN_USER_BASE, i),
            &upn,
            &display,
            Some("Contoso"),
            Some(&format!("User {i:02}")),
            None,
        );
        t.add_user(u);
    }
    t
}

/// admin@contoso.com plus `user{i:05}@contoso.com` (i from 1), each with `devices_per_user`
/// Windows devices.
pub(crate) fn bulk(users: usize, devices_per_user: usize) -> Tenant {
    let mut t = Tenant::default();
    t.users.reserve(users + 1);
    t.devices.reserve((users + 1) * devices_per_user + 1);
    t.by_upn.reserve(users + 1);
    t.by_id.reserve(users + 1);
    t.device_by_id.reserve((users + 1) * devices_per_user + 1);

    let mut admin = user(
        ids::ADMIN,
        "admin@contoso.com",
        "Megan Bowen",
        Some("Megan"),
        Some("Bowen"),
        Some("IT Administrator"),
    );
    admin.roles = vec!["Global Administrator"];
    t.add_user(admin);
    for i in 1..=users {
        let upn = format!("user{i:05}@contoso.com");
        let mut u = user(
            &numbered_uuid(BULK_USER_BASE, i as u64),
            &upn,
            &format!("User {i:05}"),
            None,
            None,
            None,
        );
        u.mail = None;
        u.devices = Vec::with_capacity(devices_per_user);
        let idx = t.add_user(u);
        for d in 0..devices_per_user {
            let n = t.devices.len() as u64 + 1;
            t.add_device(Device {
                id: numbered_uuid(DEVICE_OBJECT_BASE, n),
                device_id: numbered_uuid(DEVICE_ID_BASE, n),
                display_name: format!("U{i:05}-PC{d}"),
                operating_system: "Windows",
                operating_system_version: "10.0.22631.4460",
                account_enabled: true,
                trust_type: "AzureAd",
                on_premises_sync_enabled: None,
                registered: CREATED,
                owner: Some(idx),
            });
        }
    }
    t
}

/// Object ids of the service principals of apps Contoso users consented to.
pub mod apps {
    pub const MAIL_SYNC_PRO: &str = "c1a5e0f2-6b3d-4e8a-9f1c-2d4b6e8a0c11";
    pub const CONTOSO_EXPENSES: &str = "c1a5e0f2-6b3d-4e8a-9f1c-2d4b6e8a0c12";
    pub const PDF_HELPER: &str = "c1a5e0f2-6b3d-4e8a-9f1c-2d4b6e8a0c13";
}

const REGISTERED: OffsetDateTime = datetime!(2024-02-06 10:12:00 UTC);
const FLAGGED: OffsetDateTime = datetime!(2026-11-29 06:40:00 UTC);

fn rule(
    id: &str,
    name: &str,
    sequence: i64,
    conditions: serde_json::Value,
    actions: serde_json::Value,
) -> Rule {
    Rule {
        id: id.into(),
        display_name: name.into(),
        sequence,
        is_enabled: true,
        is_read_only: false,
        conditions,
        actions,
    }
}

fn forward(name: &str, address: &str) -> serde_json::Value {
    json!([{"emailAddress": {"name": name, "address": address}}])
}

/// What the opt-in incident steps act on: authentication methods (with a default one), inbox
/// rules (one read-only), users' consents and a tenant-wide one, a user Identity Protection
/// flagged, and users without an Exchange Online mailbox.
fn incident(t: &mut Tenant) {
    let idx = |t: &Tenant, id: &str| t.find_user(id).expect("seeded user");
    // Microsoft Graph's service principal, the resource of every grant.
    let graph = super::apps::GRAPH_SP_ID.to_string();
    let vendor = "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f".to_string();
    t.client_apps = vec![
        ClientApp {
            id: apps::MAIL_SYNC_PRO.into(),
            app_id: "e4c2a6b8-0d1f-4a3c-8e5b-7a9c1e3f5b22".into(),
            display_name: "Mail Sync Pro".into(),
            owner_tenant: vendor.clone(),
        },
        ClientApp {
            id: apps::CONTOSO_EXPENSES.into(),
            app_id: "e4c2a6b8-0d1f-4a3c-8e5b-7a9c1e3f5b23".into(),
            display_name: "Contoso Expenses".into(),
            owner_tenant: super::state::TENANT_ID.into(),
        },
        ClientApp {
            id: apps::PDF_HELPER.into(),
            app_id: "e4c2a6b8-0d1f-4a3c-8e5b-7a9c1e3f5b24".into(),
            display_name: "PDF Helper Online".into(),
            owner_tenant: vendor,
        },
    ];

    // Adele: Authenticator (the default), a mobile phone and a FIDO2 key; a rule that forwards
    // invoices out of the tenant and one that files newsletters; a consent to a mail app;
    // Identity Protection already rates her at medium risk.
    let adele = idx(t, ids::ADELE);
    let u = &mut t.users[adele];
    u.methods.extend([
        Method::new(
            "_jpuR-TGZtk6aQCLF3BQjA2",
            Kind::MicrosoftAuthenticator,
            "Adele's iPhone 15",
            REGISTERED,
        ),
        Method::phone("mobile", "+1 4255550123", REGISTERED),
        Method::new(
            "-2_GRUg2-HYz6_1YG4YRAQ2",
            Kind::Fido2,
            "YubiKey 5 NFC",
            REGISTERED,
        ),
    ]);
    u.default_method = Some("_jpuR-TGZtk6aQCLF3BQjA2".into());
    u.mailbox = Some(Mailbox {
        rules: vec![
            rule(
                "AQAAAJ5dZp8=",
                "Newsletters",
                1,
                json!({"senderContains": ["newsletter"]}),
                json!({"moveToFolder": "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZlLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAA=", "stopProcessingRules": true}),
            ),
            rule(
                "AQAAAJ5dZqA=",
                "Invoices",
                2,
                json!({"subjectContains": ["invoice", "payment"]}),
                json!({"forwardTo": forward("Accounts", "accounts@fabrikam-billing.example"), "markAsRead": true}),
            ),
        ],
    });
    u.risk = Some(Risk {
        level: "medium",
        state: "atRisk",
        detail: "none",
        updated: FLAGGED,
    });
    t.grants.push(Grant {
        id: "E3NHhUPqfUy4pFT-010LYFo5-ycA-_5Fhl7nHbaJ7qACy1R9o6oWQJ-cpLSUIt2b".into(),
        client_id: apps::MAIL_SYNC_PRO.into(),
        consent_type: "Principal",
        principal_id: Some(ids::ADELE.into()),
        resource_id: graph.clone(),
        scope: " Mail.Read Mail.Send offline_access User.Read".into(),
    });

    // Nestor: a mobile phone as the default and the Authenticator, so that deleting the phone
    // first is refused; a rule that deletes security alerts; a consent to a PDF app.
    let nestor = idx(t, ids::NESTOR);
    let u = &mut t.users[nestor];
    u.methods.extend([
        Method::phone("mobile", "+1 2065550188", REGISTERED),
        Method::new(
            "bqBA7hW0gUazK9RJjEqcNQ2",
            Kind::MicrosoftAuthenticator,
            "Nestor's Pixel 8",
            REGISTERED,
        ),
    ]);
    u.default_method = Some(super::auth_methods::PHONE_MOBILE_ID.into());
    u.mailbox = Some(Mailbox {
        rules: vec![
            rule(
                "AQAAAKNxY0E=",
                "Security alerts",
                1,
                json!({"subjectContains": ["security alert", "unusual sign-in"]}),
                json!({"delete": true, "stopProcessingRules": true}),
            ),
            rule(
                "AQAAAKNxY0I=",
                "Team updates",
                2,
                json!({"fromAddresses": [{"emailAddress": {"name": "Team", "address": "team@contoso.com"}}]}),
                json!({"moveToFolder": "AAMkADhNmAAA=", "markImportance": "low"}),
            ),
        ],
    });
    t.grants.push(Grant {
        id: "8Ai5wbE2OkiNNMBsW0aIgBNuIP2vK7FDmAmV8XGJ5Ao-VbWnQ0fPR5PeH4oKp3dA".into(),
        client_id: apps::PDF_HELPER.into(),
        consent_type: "Principal",
        principal_id: Some(ids::NESTOR.into()),
        resource_id: graph.clone(),
        scope: " Files.Read.All offline_access".into(),
    });

    // Diego: only a password; a forwarding rule Outlook made read-only, and a harmless one.
    let diego = idx(t, ids::DIEGO);
    let mut read_only = rule(
        "AQAAAGZ0Xh4=",
        "Forward all",
        1,
        json!({}),
        json!({"forwardTo": forward("Diego", "diego.s@outlook.example")}),
    );
    read_only.is_read_only = true;
    t.users[diego].mailbox = Some(Mailbox {
        rules: vec![
            read_only,
            rule(
                "AQAAAGZ0Xh8=",
                "Receipts",
                2,
                json!({"subjectContains": ["receipt"]}),
                json!({"moveToFolder": "AAMkAGRlAAA=", "stopProcessingRules": false}),
            ),
        ],
    });

    // No Exchange Online mailbox: a guest, and a shared kiosk account with no licence.
    for key in [ids::PRADEEP, ids::KIOSK] {
        let u = idx(t, key);
        t.users[u].mailbox = None;
    }

    // A consent an admin gave for everyone: not any user's own, never listed per user.
    t.grants.push(Grant {
        id: "yZpb2FpQ0kSSfOx3Db2Sz3dyb3ZgJ3lFj8f8Zt5fL0Q".into(),
        client_id: apps::CONTOSO_EXPENSES.into(),
        consent_type: "AllPrincipals",
        principal_id: None,
        resource_id: graph,
        scope: " User.Read Files.Read".into(),
    });
}

/// What `lockdown setup` leaves in a tenant: the group "lockdown: blocked accounts" and an
/// enabled Conditional Access policy blocking it for all cloud apps, breakglass@contoso.com
/// excluded (learn: graph/api/resources/conditionalaccesspolicy; entra: "Manage emergency
/// access accounts": always exclude them).
pub(crate) fn setup(t: &mut Tenant) {
    t.groups.push(super::groups::Group {
        id: ids::BLOCK_GROUP.to_owned(),
        display_name: "lockdown: blocked accounts".to_owned(),
        mail_nickname: "lockdown-blocked".to_owned(),
        description: Some(
            "Members cannot sign in: a Conditional Access policy blocks them. lockdown adds compromised accounts here.".to_owned(),
        ),
        mail_enabled: false,
        security_enabled: true,
        created: CREATED,
        members: Vec::new(),
    });
    let policy = serde_json::json!({
        "id": ids::BLOCK_POLICY,
        "displayName": "lockdown: block sign-in for blocked accounts",
        "createdDateTime": super::state::format_datetime(CREATED),
        "modifiedDateTime": null,
        "state": "enabled",
        "conditions": {
            "users": {
                "includeUsers": [],
                "excludeUsers": [ids::BREAKGLASS],
                "includeGroups": [ids::BLOCK_GROUP],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
            },
            "applications": {
                "includeApplications": ["All"],
                "excludeApplications": [],
            },
            "clientAppTypes": ["all"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    if let serde_json::Value::Object(m) = policy {
        t.ca_policies.push(m);
    }
}
