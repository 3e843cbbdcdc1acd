//! Registered devices: list a user's, and disable one.
//!
//! learn: graph/api/user-list-registereddevices (a directoryObject collection, paged; Learn lists
//! application permissions as not supported), graph/api/device-update and graph/api/device-get
//! ("You can address the device using either its id or deviceId": `/devices/{id}` takes the
//! object id, `/devices(deviceId='{deviceId}')` the alternate key, which is what Intune's
//! `azureADDeviceId` holds).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::address::user_path;
use super::{GraphError, GraphRequest, GraphResponse};

/// A device's object id (not its `deviceId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceObjectId(pub String);

pub const SELECT: &str =
    "id,deviceId,displayName,operatingSystem,accountEnabled,trustType,onPremisesSyncEnabled";

/// Graph's largest page for directory objects.
pub const PAGE_SIZE: u32 = 999;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: DeviceObjectId,
    /// The device's own id (what Intune calls `azureADDeviceId`), not its object id.
    pub device_id: Option<String>,
    pub display_name: Option<String>,
    pub operating_system: Option<String>,
    pub account_enabled: Option<bool>,
    pub trust_type: Option<String>,
    pub on_premises_sync_enabled: Option<bool>,
}

impl Device {
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id.0)
    }

    pub fn is_windows(&self) -> bool {
        self.operating_system
            .as_deref()
            .is_some_and(|os| os.to_ascii_lowercase().starts_with("windows"))
    }
}

/// `GET /users/{id|upn}/registeredDevices`, first page.
pub fn list_registered(who: &str) -> GraphRequest {
    GraphRequest::get(format!(
        "{}/registeredDevices?$select={SELECT}&$top={PAGE_SIZE}",
        user_path(who)
    ))
}

/// Keep the devices of a directoryObject collection: it may hold other object types.
pub fn from_directory_objects(items: Vec<serde_json::Value>) -> Result<Vec<Device>, GraphError> {
    items
        .into_iter()
        .filter(|item| {
            item.get("@odata.type")
                .and_then(|t| t.as_str())
                .is_none_or(|t| t.eq_ignore_ascii_case("#microsoft.graph.device"))
        })
        .map(|item| {
            serde_path_to_error::deserialize(item).map_err(|e| GraphError::Decode {
                message: format!("registered device at `{}`: {}", e.path(), e.inner()),
            })
        })
        .collect()
}

/// `PATCH /devices/{id}` `{"accountEnabled": false}`.
pub fn disable(id: &DeviceObjectId) -> GraphRequest {
    GraphRequest::patch(device_path(&id.0), json!({ "accountEnabled": false }))
}

/// `PATCH /devices/{id}` `{"accountEnabled": true}`: the undo of [`disable`].
pub fn enable(id: &DeviceObjectId) -> GraphRequest {
    GraphRequest::patch(device_path(&id.0), json!({ "accountEnabled": true }))
}

/// `PATCH /devices(deviceId='{deviceId}')` `{"accountEnabled": false}`: the device found through
/// Intune, by its `deviceId` (learn: graph/api/device-update, HTTP request).
pub fn disable_by_device_id(device_id: &str) -> GraphRequest {
    GraphRequest::patch(
        device_id_path(device_id),
        json!({ "accountEnabled": false }),
    )
}

/// `GET /devices(deviceId='{deviceId}')?$select=...` (learn: graph/api/device-get).
pub fn get_by_device_id(device_id: &str) -> GraphRequest {
    GraphRequest::get(format!("{}?$select={SELECT}", device_id_path(device_id)))
}

pub fn decode(resp: &GraphResponse) -> Result<Device, GraphError> {
    resp.json()
}

/// Characters left as they are inside the quoted key: letters, digits and the unreserved
/// `-._~` (a GUID stays readable); everything else, `'` included, is percent-encoded.
const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `/devices(deviceId='...')`: the value is an OData string literal, so `'` is doubled
/// (learn: graph/query-parameters), then percent-encoded so that no character of it can end
/// the segment, start a query or a fragment, or be taken for a path separator.
fn device_id_path(device_id: &str) -> String {
    let doubled = device_id.replace('\'', "''");
    format!(
        "/devices(deviceId='{}')",
        percent_encoding::utf8_percent_encode(&doubled, KEY)
    )
}

/// `/devices/{id}`. Ids come from Graph, but the path is built safely for any string: the
/// OData key form for anything that is not a plain GUID-like token.
fn device_path(id: &str) -> String {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        format!("/devices/{id}")
    } else {
        let quoted = id.replace('\'', "''");
        format!(
            "/devices('{}')",
            percent_encoding::utf8_percent_encode(&quoted, percent_encoding::NON_ALPHANUMERIC)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn guid_ids_are_plain_segments() {
        let id = DeviceObjectId("7c06cd31-7c30-4f3b-a5c3-444cd8dd63ac".into());
        assert!(
            matches!(&disable(&id).target, super::super::Target::Path(p) if p == "/devices/7c06cd31-7c30-4f3b-a5c3-444cd8dd63ac")
        );
    }

    #[test]
    fn device_ids_use_the_alternate_key() {
        let req = disable_by_device_id("2d000000-0000-4000-8000-000000000009");
        assert_eq!(
            req.describe(),
            "PATCH /v1.0/devices(deviceId='2d000000-0000-4000-8000-000000000009')"
        );
        assert_eq!(
            device_id_path("o'k/x?#"),
            "/devices(deviceId='o%27%27k%2Fx%3F%23')"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Whatever deviceId Intune hands back, the request goes to one `devices(deviceId=...)`
        /// segment, and the server reads back exactly that id.
        #[test]
        fn any_device_id_stays_one_key_segment(id in ".{0,40}") {
            let path = device_id_path(&id);
            let url = url::Url::parse(&format!("https://graph.microsoft.com/v1.0{path}")).unwrap();
            prop_assert!(url.query().is_none() && url.fragment().is_none());
            let segments: Vec<&str> = url.path_segments().unwrap().collect();
            prop_assert_eq!(segments.len(), 2, "{}", path);
            let decoded = percent_encoding::percent_decode_str(segments[1]).decode_utf8().unwrap();
            let literal = decoded
                .strip_prefix("devices(deviceId='")
                .and_then(|s| s.strip_suffix("')"))
                .unwrap();
            prop_assert_eq!(literal.replace("''", "'"), id);
        }

        /// Whatever id Graph hands back, the PATCH goes to that one device and nowhere else.
        #[test]
        fn any_id_stays_one_device_path(id in ".{0,40}") {
            let path = device_path(&id);
            let url = url::Url::parse(&format!("https://graph.microsoft.com/v1.0{path}")).unwrap();
            prop_assert!(url.query().is_none() && url.fragment().is_none());
            let segments: Vec<&str> = url.path_segments().unwrap().collect();
            prop_assert_eq!(segments[0], "v1.0");
            match segments.len() {
                // A plain id: the segment is the id itself.
                3 => {
                    prop_assert_eq!(segments[1], "devices");
                    prop_assert_eq!(segments[2], id.as_str());
                }
                // Anything else: one OData key segment.
                2 => prop_assert!(segments[1].starts_with("devices('") && segments[1].ends_with("')"), "{}", path),
                _ => prop_assert!(false, "{} has {} segments", path, segments.len()),
            }
        }
    }
}
