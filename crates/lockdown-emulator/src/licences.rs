//! The tenant's licences: `GET /subscribedSkus`.
//!
//! learn: graph/api/subscribedsku-list — `GET /subscribedSkus`, `$select` only, a collection of
//! subscribedSku (`accountName`, `accountId`, `appliesTo`, `capabilityStatus`, `consumedUnits`,
//! `id` = `{tenantId}_{skuId}`, `prepaidUnits`, `servicePlans`, `skuId`, `skuPartNumber`,
//! `subscriptionIds`); least privileged permission Organization.Read.All.
//! learn: entra/identity/users/licensing-service-plan-reference — the SKU and service plan ids
//! and names (AAD_PREMIUM, AAD_PREMIUM_P2, INTUNE_A, ENTERPRISEPACK).
//!
//! Which SKUs the tenant holds follows two switches: its Entra ID plan ([`EntraIdPlan`]) and
//! whether it holds Intune (`Tenant::intune`, shared with Intune's endpoints).

use serde_json::{json, Map, Value};

use super::errors::{self, Reply};
use super::odata::Query;
use super::server::Shared;
use super::state::{Identity, Tenant, TENANT_ID};

/// The tenant's Microsoft Entra ID plan. P1 carries the `AAD_PREMIUM` service plan; P2 carries
/// `AAD_PREMIUM_P2` and `AAD_PREMIUM` both (learn: licensing-service-plan-reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntraIdPlan {
    /// No premium licence: sign-in logs answer 403 through Graph.
    Free,
    P1,
    #[default]
    P2,
}

impl EntraIdPlan {
    /// The tenant has Entra ID P1 or P2 (what sign-in logs need).
    pub fn is_premium(self) -> bool {
        self != EntraIdPlan::Free
    }
}

const AAD_PREMIUM: (&str, &str) = ("41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM");
const AAD_PREMIUM_P2: (&str, &str) = ("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2");
const INTUNE_A: (&str, &str) = ("c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "INTUNE_A");
const EXCHANGE_S_ENTERPRISE: (&str, &str) = (
    "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "EXCHANGE_S_ENTERPRISE",
);

/// One SKU: id, part number, service plans, and the subscription it came with.
struct Sku {
    sku_id: &'static str,
    part_number: &'static str,
    plans: &'static [(&'static str, &'static str)],
    subscription: &'static str,
    units: u32,
}

const ENTERPRISEPACK: Sku = Sku {
    sku_id: "6fd2c87f-b296-42f0-b197-1e91e994b900",
    part_number: "ENTERPRISEPACK",
    plans: &[EXCHANGE_S_ENTERPRISE],
    subscription: "5a1b3c5d-7e9f-4a2b-8c4d-6e8f0a2b4c6d",
    units: 60,
};
const P1_SKU: Sku = Sku {
    sku_id: "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
    part_number: "AAD_PREMIUM",
    plans: &[AAD_PREMIUM],
    subscription: "6b2c4d6e-8f0a-4b3c-9d5e-7f9a1b3c5d7e",
    units: 60,
};
const P2_SKU: Sku = Sku {
    sku_id: "84a661c4-e949-4bd2-a560-ed7766fcaf2b",
    part_number: "AAD_PREMIUM_P2",
    plans: &[AAD_PREMIUM, AAD_PREMIUM_P2],
    subscription: "7c3d5e7f-9a1b-4c4d-8e6f-8a0b2c4d6e8f",
    units: 60,
};
const INTUNE_SKU: Sku = Sku {
    sku_id: "061f9ace-7d42-4136-88ac-31dc755f143f",
    part_number: "INTUNE_A",
    plans: &[INTUNE_A],
    subscription: "8d4e6f8a-0b2c-4d5e-9f7a-9b1c3d5e7f9a",
    units: 60,
};

fn skus(tenant: &Tenant) -> Vec<&'static Sku> {
    let mut out = vec![&ENTERPRISEPACK];
    match tenant.entra_id {
        EntraIdPlan::Free => {}
        EntraIdPlan::P1 => out.push(&P1_SKU),
        EntraIdPlan::P2 => out.push(&P2_SKU),
    }
    if tenant.intune {
        out.push(&INTUNE_SKU);
    }
    out
}

fn sku_json(sku: &Sku, consumed: usize) -> Map<String, Value> {
    let plans: Vec<Value> = sku
        .plans
        .iter()
        .map(|(id, name)| {
            json!({
                "servicePlanId": id,
                "servicePlanName": name,
                "provisioningStatus": "Success",
                "appliesTo": "User",
            })
        })
        .collect();
    let mut m = Map::new();
    for (k, v) in [
        ("accountName", json!("Contoso")),
        ("accountId", json!(TENANT_ID)),
        ("appliesTo", json!("User")),
        ("capabilityStatus", json!("Enabled")),
        ("consumedUnits", json!(consumed.min(sku.units as usize))),
        ("id", json!(format!("{TENANT_ID}_{}", sku.sku_id))),
        (
            "prepaidUnits",
            json!({"enabled": sku.units, "lockedOut": 0, "suspended": 0, "warning": 0}),
        ),
        ("servicePlans", Value::Array(plans)),
        ("skuId", json!(sku.sku_id)),
        ("skuPartNumber", json!(sku.part_number)),
        ("subscriptionIds", json!([sku.subscription])),
    ] {
        m.insert(k.to_string(), v);
    }
    m
}

/// learn: graph/api/subscribedsku-list — permissions table (Organization.Read.All least
/// privileged; LicenseAssignment.Read.All, Directory.Read.All and the write forms also grant).
const READ_SKUS: &[&str] = &[
    "Organization.Read.All",
    "LicenseAssignment.Read.All",
    "Directory.Read.All",
    "Organization.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

/// `GET /subscribedSkus`.
pub(crate) fn list(shared: &Shared, tenant: &Tenant, q: &Query, id: &Identity) -> Reply {
    if !id.has_any(READ_SKUS) {
        return errors::denied();
    }
    let consumed = tenant.users.len();
    let mut value = Vec::new();
    for sku in skus(tenant) {
        let full = sku_json(sku, consumed);
        // learn: subscribedsku-list — "This method supports only the $select OData query parameter".
        let m = match &q.select {
            None => full,
            Some(select) => {
                let mut m = Map::new();
                for s in select {
                    match full.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)) {
                        Some((k, v)) => {
                            m.insert(k.clone(), v.clone());
                        }
                        None => {
                            return errors::odata_bad_request(format!(
                                "Could not find a property named '{s}' on type 'microsoft.graph.subscribedSku'."
                            ))
                        }
                    }
                }
                m
            }
        };
        value.push(Value::Object(m));
    }
    Reply::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#subscribedSkus", shared.base_url),
            "value": value,
        }),
    )
}
