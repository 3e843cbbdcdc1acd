//! Registered devices: list a user's, and disable one.
//!
//! learn: graph/api/user-list-registereddevices (a directoryObject collection, paged; Learn lists
//! application permissions as not supported), graph/api/device-update (`PATCH /devices/{id}`
//! takes the object id, not `deviceId`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{GraphError, GraphRequest};
use crate::address::user_path;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
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
