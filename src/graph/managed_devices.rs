//! Intune managed devices: list a user's, and lock one remotely.
//!
//! learn: graph/api/intune-devices-manageddevice-list (`GET /users/{usersId}/managedDevices`;
//! delegated and application `DeviceManagementManagedDevices.Read.All`: unlike a user's
//! registered devices, an application may list them), graph/api/resources/intune-devices-manageddevice
//! (`azureADDeviceId` is the Entra device's `deviceId`), graph/api/intune-devices-manageddevice-remotelock
//! (`POST /deviceManagement/managedDevices/{id}/remoteLock`, no body, 204;
//! `DeviceManagementManagedDevices.PrivilegedOperations.All`). Every Intune call needs an
//! Intune licence in the tenant.

use serde::{Deserialize, Serialize};

use super::address::user_path;
use super::{GraphError, GraphRequest};

/// A managed device's Intune id (not the Entra device's object id or `deviceId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ManagedDeviceId(pub String);

pub const SELECT: &str = "id,deviceName,operatingSystem,azureADDeviceId,userPrincipalName";

/// Intune's `azureADDeviceId` for a device that is not registered in Entra ID.
const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDevice {
    pub id: ManagedDeviceId,
    pub device_name: Option<String>,
    pub operating_system: Option<String>,
    #[serde(rename = "azureADDeviceId")]
    pub azure_ad_device_id: Option<String>,
    pub user_principal_name: Option<String>,
}

impl ManagedDevice {
    pub fn name(&self) -> &str {
        self.device_name.as_deref().unwrap_or(&self.id.0)
    }

    /// The Entra device's `deviceId`, when the device is registered in Entra ID.
    pub fn entra_device_id(&self) -> Option<&str> {
        self.azure_ad_device_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty() && !id.eq_ignore_ascii_case(NIL_GUID))
    }
}

/// `GET /users/{id|upn}/managedDevices?$select=...`, first page.
pub fn list_for_user(who: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}/managedDevices?$select={SELECT}",
        user_path(who)
    ))
}

/// The items of a managedDevices collection.
pub fn from_items(items: Vec<serde_json::Value>) -> Result<Vec<ManagedDevice>, GraphError> {
    items
        .into_iter()
        .map(|item| {
            serde_path_to_error::deserialize(item).map_err(|e| GraphError::Decode {
                message: format!("managed device at `{}`: {}", e.path(), e.inner()),
            })
        })
        .collect()
}

/// `POST /deviceManagement/managedDevices/{id}/remoteLock`, no body.
pub fn remote_lock(id: &ManagedDeviceId) -> GraphRequest {
    GraphRequest::post(format!("{}/remoteLock", managed_device_path(&id.0)))
}

/// `/deviceManagement/managedDevices/{id}`: Intune ids are GUIDs; anything else goes in the
/// OData key form, quoted and percent-encoded, so it stays one segment.
fn managed_device_path(id: &str) -> String {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        format!("/deviceManagement/managedDevices/{id}")
    } else {
        let quoted = id.replace('\'', "''");
        format!(
            "/deviceManagement/managedDevices('{}')",
            percent_encoding::utf8_percent_encode(&quoted, percent_encoding::NON_ALPHANUMERIC)
        )
    }
}

/// Intune is not available to this run: the tenant has no Intune licence (400
/// "Request not applicable to target tenant.", the documented message being the only thing that
/// tells it from other 400 `BadRequest`s), or the token may not read it (403).
pub fn is_unavailable(err: &GraphError) -> bool {
    is_not_licensed(err) || err.status() == Some(403)
}

/// The tenant has no Intune licence (learn: every Intune page, "requires an active Intune
/// license for the tenant"; the message as Graph sends it, GRAPH-NOTES).
pub fn is_not_licensed(err: &GraphError) -> bool {
    err.api().is_some_and(|e| {
        e.status == 400
            && e.message
                .to_ascii_lowercase()
                .contains("not applicable to target tenant")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_decode_and_the_nil_device_id_means_not_in_entra() {
        let items = vec![
            serde_json::json!({
                "@odata.type": "#microsoft.graph.managedDevice",
                "id": "3d000000-0000-4000-8000-000000000001",
                "deviceName": "ADELEV-LAPTOP",
                "operatingSystem": "Windows",
                "azureADDeviceId": "2d000000-0000-4000-8000-000000000002",
                "userPrincipalName": "adele@contoso.com"
            }),
            serde_json::json!({
                "id": "3d000000-0000-4000-8000-000000000002",
                "deviceName": "Lynne's Galaxy",
                "operatingSystem": "Android",
                "azureADDeviceId": "00000000-0000-0000-0000-000000000000"
            }),
        ];
        let devices = from_items(items).unwrap();
        assert_eq!(
            devices[0].entra_device_id(),
            Some("2d000000-0000-4000-8000-000000000002")
        );
        assert_eq!(devices[1].entra_device_id(), None);
        let bad = from_items(vec![serde_json::json!({"id": 7})]).unwrap_err();
        assert!(bad.to_string().contains("id"), "{bad}");
    }

    #[test]
    fn paths() {
        assert_eq!(
            list_for_user("patti.o'fernandez@contoso.com").describe(),
            "GET /v1.0/users/patti.o'fernandez@contoso.com/managedDevices?$select=id,deviceName,operatingSystem,azureADDeviceId,userPrincipalName"
        );
        assert_eq!(
            remote_lock(&ManagedDeviceId("3d000000-0000-4000-8000-000000000001".into()))
                .describe(),
            "POST /v1.0/deviceManagement/managedDevices/3d000000-0000-4000-8000-000000000001/remoteLock"
        );
        assert_eq!(
            managed_device_path("a/b'c"),
            "/deviceManagement/managedDevices('a%2Fb%27%27c')"
        );
    }
}
