//! Intune's part of Graph: a user's managed devices and the remote lock action.
//!
//! learn: graph/api/resources/intune-devices-manageddevice, graph/api/intune-devices-manageddevice-list
//! (`GET /users/{usersId}/managedDevices`; delegated and application
//! `DeviceManagementManagedDevices.Read.All` or `.ReadWrite.All`),
//! graph/api/intune-devices-manageddevice-remotelock (`POST .../remoteLock`, no body, 204;
//! `DeviceManagementManagedDevices.PrivilegedOperations.All`). Every Intune page notes that
//! "the Microsoft Graph API for Intune requires an active Intune license for the tenant".

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::odata::{self, Query};
use super::server::Shared;
use super::state::{format_datetime, Caller, Identity, ManagedDevice, Tenant};

/// learn: graph/api/intune-devices-manageddevice-list (permissions table).
const READ: &[&str] = &[
    "DeviceManagementManagedDevices.Read.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
];
/// learn: graph/api/intune-devices-manageddevice-remotelock (permissions table).
const PRIVILEGED: &[&str] = &["DeviceManagementManagedDevices.PrivilegedOperations.All"];
/// A delegated caller also needs an Intune role (Intune's own RBAC; the Entra roles that carry
/// it). learn: mem/intune/fundamentals/role-based-access-control.
const READ_ROLES: &[&str] = &[
    "Intune Administrator",
    "Global Administrator",
    "Global Reader",
];
const ACTION_ROLES: &[&str] = &["Intune Administrator", "Global Administrator"];

/// Intune's paths: they are metered by Intune's own service limits, not by the identity and
/// access buckets (learn: graph/throttling-limits, "Intune service limits").
pub(crate) fn is_intune_path(rest: &str) -> bool {
    let lower = rest.trim_start_matches('/').to_ascii_lowercase();
    lower.starts_with("devicemanagement/")
        || ((lower.starts_with("users/")
            || lower.starts_with("users(")
            || lower.starts_with("me/"))
            && lower.contains("/manageddevices"))
}

/// A tenant without an Intune licence. The code and message are the ones Graph is widely seen
/// to send (GRAPH-NOTES; msgraph-beta-sdk-go#198, vanvfields/Microsoft-365#18).
fn not_licensed() -> Reply {
    errors::odata_bad_request("Request not applicable to target tenant.")
}

/// Intune's 403 wraps its own error as a JSON string inside Graph's `message`, under the code
/// `UnknownError` (seen in microsoft-graph-docs#6725 for `/users/{id}/managedDevices`, and
/// mondoohq/cnspec#1708 for the scope wording).
fn forbidden(scopes: &[&str], app: bool) -> Reply {
    let who = if app { "Application" } else { "User" };
    let inner = json!({
        "_version": 3,
        "Message": format!(
            "{who} is not authorized to perform this operation. {who} must have one of the following scopes: {} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000",
            scopes.join(", ")
        ),
        "CustomApiErrorPhrase": "",
        "RetryAfter": null,
        "ErrorSourceService": "",
        "HttpHeaders": "{}",
    });
    let outer = json!({
        "ErrorCode": "Forbidden",
        "Message": inner.to_string(),
        "Target": null,
        "Details": null,
        "InnerError": null,
        "InstanceAnnotations": [],
    });
    Reply::error(403, "UnknownError", outer.to_string())
}

fn allowed(id: &Identity, scopes: &[&str], roles: &[&str]) -> Result<(), Reply> {
    if !id.has_any(scopes) {
        return Err(forbidden(scopes, id.is_app()));
    }
    if matches!(id.caller, Caller::Delegated { .. }) && !id.has_role(roles) {
        return Err(forbidden(scopes, false));
    }
    Ok(())
}

// learn: graph/api/resources/intune-devices-manageddevice — properties (those the emulator keeps).
const PROPS: &[&str] = &[
    "id",
    "userId",
    "deviceName",
    "managedDeviceOwnerType",
    "enrolledDateTime",
    "lastSyncDateTime",
    "operatingSystem",
    "complianceState",
    "managementAgent",
    "osVersion",
    "azureADRegistered",
    "deviceEnrollmentType",
    "emailAddress",
    "azureADDeviceId",
    "deviceRegistrationState",
    "userPrincipalName",
    "userDisplayName",
    "managedDeviceName",
];

const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

fn prop(tenant: &Tenant, m: &ManagedDevice, name: &str) -> Value {
    let user = &tenant.users[m.user];
    let registered = m.azure_ad_device_id != NIL_GUID;
    match name {
        "id" => json!(m.id),
        "userId" => json!(user.id),
        "deviceName" => json!(m.device_name),
        "managedDeviceOwnerType" => json!("company"),
        "enrolledDateTime" | "lastSyncDateTime" => json!(format_datetime(m.enrolled)),
        "operatingSystem" => json!(m.operating_system),
        "complianceState" => json!("compliant"),
        "managementAgent" => json!("mdm"),
        "osVersion" => json!(m.os_version),
        "azureADRegistered" => json!(registered),
        "deviceEnrollmentType" => json!(if m.operating_system == "Windows" {
            "windowsAzureADJoin"
        } else {
            "userEnrollment"
        }),
        "emailAddress" => json!(user.mail),
        "azureADDeviceId" => json!(m.azure_ad_device_id),
        "deviceRegistrationState" => json!(if registered {
            "registered"
        } else {
            "notRegistered"
        }),
        "userPrincipalName" => json!(user.upn),
        "userDisplayName" => json!(user.display_name),
        "managedDeviceName" => json!(format!("{}_{}", user.upn, m.device_name)),
        _ => Value::Null,
    }
}

fn device_json(
    tenant: &Tenant,
    m: &ManagedDevice,
    select: Option<&[String]>,
) -> Result<Map<String, Value>, Reply> {
    let props: Vec<&str> = match select {
        None => PROPS.to_vec(),
        Some(s) => {
            let mut out = Vec::new();
            for name in s {
                match PROPS.iter().find(|p| p.eq_ignore_ascii_case(name)) {
                    Some(p) => out.push(*p),
                    None => {
                        return Err(errors::odata_bad_request(format!(
                            "Could not find a property named '{name}' on type 'microsoft.graph.managedDevice'."
                        )))
                    }
                }
            }
            out
        }
    };
    // learn: graph/api/intune-devices-manageddevice-list — each item carries its @odata.type.
    let mut obj = Map::new();
    obj.insert(
        "@odata.type".into(),
        json!("#microsoft.graph.managedDevice"),
    );
    for p in props {
        obj.insert(p.to_string(), prop(tenant, m, p));
    }
    Ok(obj)
}

/// `GET /users/{id}/managedDevices`: the devices whose primary user this is, paged through
/// `@odata.nextLink`.
pub(crate) fn list_managed_devices(
    shared: &Shared,
    tenant: &Tenant,
    target: usize,
    q: &Query,
    id: &Identity,
) -> Reply {
    if !tenant.intune {
        return not_licensed();
    }
    if let Err(r) = allowed(id, READ, READ_ROLES) {
        return r;
    }
    let mine = tenant.managed_devices_of(target);
    let page = (q.top.unwrap_or(1000) as usize).min(shared.max_page_size.max(1));
    let offset = match &q.skiptoken {
        None => 0,
        Some(t) => match odata::offset_from_skiptoken(t) {
            Some(o) => o,
            None => return errors::odata_bad_request("Invalid $skiptoken."),
        },
    };
    let mut value = Vec::new();
    for &m in mine.iter().skip(offset).take(page) {
        match device_json(tenant, &tenant.managed_devices[m], q.select.as_deref()) {
            Ok(obj) => value.push(Value::Object(obj)),
            Err(r) => return r,
        }
    }
    let user = &tenant.users[target];
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/v1.0/$metadata#users('{}')/managedDevices",
            shared.base_url, user.id
        )),
    );
    let next = offset + page;
    if next < mine.len() {
        let mut qs = Vec::new();
        if let Some(s) = &q.select {
            qs.push(format!("$select={}", s.join(",")));
        }
        qs.push(format!("$skiptoken={}", odata::skiptoken_for(next)));
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}/v1.0/users/{}/managedDevices?{}",
                shared.base_url,
                user.id,
                qs.join("&")
            )),
        );
    }
    body.insert("value".into(), Value::Array(value));
    Reply::json(200, Value::Object(body))
}

/// `POST /deviceManagement/managedDevices/{id}/remoteLock`: no body, 204.
pub(crate) fn remote_lock(tenant: &mut Tenant, managed_id: &str, id: &Identity) -> Reply {
    if !tenant.intune {
        return not_licensed();
    }
    if let Err(r) = allowed(id, PRIVILEGED, ACTION_ROLES) {
        return r;
    }
    let Some(m) = tenant.find_managed_device(managed_id) else {
        // (unconfirmed) Intune's wording for an unknown managed device.
        return Reply::error(
            404,
            "ResourceNotFound",
            format!("Resource not found for the segment '{managed_id}'."),
        );
    };
    tenant.managed_devices[m].remote_locks += 1;
    Reply::no_content()
}

/// Route `deviceManagement/...` (the path after `/v1.0/`, split into segments).
pub(crate) fn route(shared: &Shared, method: &str, segs: &[&str], id: &Identity) -> Reply {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (method, lower.as_slice()) {
        ("POST", ["devicemanagement", "manageddevices", _, "remotelock"]) => {
            let mut tenant = super::lock(&shared.tenant);
            remote_lock(&mut tenant, segs[2], id)
        }
        (_, ["devicemanagement", "manageddevices", _, "remotelock"]) => Reply::error(
            405,
            "BadRequest",
            "The HTTP method is not allowed on this resource.",
        ),
        _ => errors::odata_bad_request(format!(
            "Resource not found for the segment '{}'.",
            segs.get(1).copied().unwrap_or("deviceManagement")
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{Emulator, EmulatorConfig, TokenKind, TokenSpec};

    async fn call(emu: &Emulator, method: &str, path: &str, token: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/v1.0{path}", emu.url()),
            )
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    async fn patch(emu: &Emulator, path: &str, token: &str) -> u16 {
        reqwest::Client::new()
            .patch(format!("{}/v1.0{path}", emu.url()))
            .bearer_auth(token)
            .json(&serde_json::json!({"accountEnabled": false}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn app(emu: &Emulator, perms: &[&str]) -> String {
        emu.issue_token(TokenSpec {
            kind: TokenKind::AppOnly,
            permissions: perms.iter().map(|p| p.to_string()).collect(),
            directory_roles: Vec::new(),
        })
    }

    #[tokio::test]
    async fn an_application_lists_a_users_managed_devices() {
        let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
        let path = "/users/adele@contoso.com/managedDevices?$select=id,deviceName,operatingSystem,azureADDeviceId,userPrincipalName";
        let (s, v) = call(&emu, "GET", path, &emu.app_token()).await;
        assert_eq!(s, 200, "{v}");
        let items = v["value"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        let laptop = &items[0];
        assert_eq!(laptop["deviceName"], "ADELEV-LAPTOP");
        assert_eq!(laptop["operatingSystem"], "Windows");
        assert_eq!(laptop["userPrincipalName"], "adele@contoso.com");
        assert!(laptop.get("complianceState").is_none(), "$select applies");
        // azureADDeviceId is the Entra device's deviceId.
        let entra = emu
            .device_by_device_id(laptop["azureADDeviceId"].as_str().unwrap())
            .unwrap();
        assert_eq!(entra.display_name, "ADELEV-LAPTOP");

        let (s, v) = call(
            &emu,
            "GET",
            "/users/adele@contoso.com/managedDevices?$select=nope",
            &emu.app_token(),
        )
        .await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("BadRequest")));
    }

    #[tokio::test]
    async fn permissions_licence_and_remote_lock() {
        let emu = Emulator::start(EmulatorConfig {
            max_page_size: 1,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        // Paging: Lynne has two managed devices, one per page.
        let (s, v) = call(
            &emu,
            "GET",
            "/users/lynne@contoso.com/managedDevices",
            &emu.app_token(),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["value"].as_array().unwrap().len(), 1);
        let next = v["@odata.nextLink"].as_str().unwrap();
        let rest = next.split("/v1.0").nth(1).unwrap();
        let (_, v2) = call(&emu, "GET", rest, &emu.app_token()).await;
        assert_eq!(v2["value"][0]["azureADDeviceId"], super::NIL_GUID);
        assert!(v2.get("@odata.nextLink").is_none());

        // Without the permission: Intune's 403.
        let weak = app(&emu, &["User.Read.All"]);
        let (s, v) = call(
            &emu,
            "GET",
            "/users/lynne@contoso.com/managedDevices",
            &weak,
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("UnknownError"))
        );
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Forbidden"));

        // Remote lock needs PrivilegedOperations.All.
        let lynne = emu.user("lynne@contoso.com").unwrap();
        let target = &lynne.managed_device_ids[0];
        let path = format!("/deviceManagement/managedDevices/{target}/remoteLock");
        let read_only = app(&emu, &["DeviceManagementManagedDevices.Read.All"]);
        assert_eq!(call(&emu, "POST", &path, &read_only).await.0, 403);
        assert_eq!(call(&emu, "POST", &path, &emu.app_token()).await.0, 204);
        assert_eq!(emu.managed_device(target).unwrap().remote_locks, 1);
        let (s, _) = call(
            &emu,
            "POST",
            "/deviceManagement/managedDevices/3d000000-0000-4000-8000-0000000000ff/remoteLock",
            &emu.app_token(),
        )
        .await;
        assert_eq!(s, 404);

        // No licence: 400 on every Intune call, before any permission check.
        emu.set_intune(false);
        let (s, v) = call(
            &emu,
            "GET",
            "/users/lynne@contoso.com/managedDevices",
            &weak,
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(v["error"]["code"], "BadRequest");
        assert_eq!(
            v["error"]["message"],
            "Request not applicable to target tenant."
        );
        assert_eq!(call(&emu, "POST", &path, &emu.app_token()).await.0, 400);
        assert_eq!(emu.managed_device(target).unwrap().remote_locks, 1);
    }

    #[tokio::test]
    async fn a_delegated_caller_needs_an_intune_role() {
        let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
        let token = |roles: &[&str]| {
            emu.issue_token(TokenSpec {
                kind: TokenKind::Delegated {
                    upn: "alex@contoso.com".into(),
                },
                permissions: vec!["DeviceManagementManagedDevices.Read.All".into()],
                directory_roles: roles.iter().map(|r| r.to_string()).collect(),
            })
        };
        let path = "/users/patti.o'fernandez@contoso.com/managedDevices";
        assert_eq!(call(&emu, "GET", path, &token(&[])).await.0, 403);
        let (s, v) = call(&emu, "GET", path, &token(&["Intune Administrator"])).await;
        assert_eq!(s, 200);
        assert_eq!(v["value"][0]["operatingSystem"], "macOS");
        assert_eq!(call(&emu, "GET", path, &emu.admin_token()).await.0, 200);
    }

    /// learn: graph/api/device-get, graph/api/device-update — "You can address the device using
    /// either its id or deviceId": `/devices(deviceId='{deviceId}')`.
    #[tokio::test]
    async fn entra_devices_answer_to_their_device_id() {
        let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
        let lynne = emu.user("lynne@contoso.com").unwrap();
        assert!(lynne.device_ids.is_empty(), "no registered devices");
        let managed = emu.managed_device(&lynne.managed_device_ids[0]).unwrap();
        let key = format!("/devices(deviceId='{}')", managed.azure_ad_device_id);
        let (s, v) = call(
            &emu,
            "GET",
            &format!("{key}?$select=id,deviceId,accountEnabled"),
            &emu.app_token(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["deviceId"], managed.azure_ad_device_id.as_str());
        let object_id = v["id"].as_str().unwrap().to_owned();

        assert_eq!(patch(&emu, &key, &emu.app_token()).await, 204);
        assert!(!emu.device(&object_id).unwrap().account_enabled);
        // An application still changes only Windows devices, whichever key names them.
        let patti = emu.user("patti.o'fernandez@contoso.com").unwrap();
        let mac = emu.device(&patti.device_ids[0]).unwrap();
        let mac_key = format!("/devices(deviceId='{}')", mac.device_id);
        assert_eq!(patch(&emu, &mac_key, &emu.app_token()).await, 400);
        assert_eq!(patch(&emu, &mac_key, &emu.admin_token()).await, 204);
        assert_eq!(
            patch(
                &emu,
                "/devices(deviceId='0d000000-0000-4000-8000-000000000000')",
                &emu.app_token()
            )
            .await,
            404
        );
    }

    #[test]
    fn intune_paths_are_recognised() {
        assert!(super::is_intune_path("users/x@y/managedDevices"));
        assert!(super::is_intune_path("users('$x@y')/managedDevices"));
        assert!(super::is_intune_path(
            "deviceManagement/managedDevices/1/remoteLock"
        ));
        assert!(!super::is_intune_path("users/x@y/registeredDevices"));
        assert!(!super::is_intune_path("devices(deviceId='1')"));
    }
}
