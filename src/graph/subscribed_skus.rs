//! The tenant's licences: `GET /subscribedSkus` (learn: graph/api/subscribedsku-list;
//! Organization.Read.All, or Directory.Read.All). A licence is there when a SKU whose
//! `capabilityStatus` is `Enabled` (or `Warning`, its grace period) carries the service plan,
//! provisioned (learn: entra/identity/users/licensing-service-plan-reference for the plan names).

use serde::Deserialize;

use super::GraphRequest;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub sku_part_number: Option<String>,
    pub capability_status: Option<String>,
    #[serde(default)]
    pub service_plans: Vec<ServicePlan>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub service_plan_name: Option<String>,
    pub provisioning_status: Option<String>,
}

/// `GET /subscribedSkus?$select=skuPartNumber,capabilityStatus,servicePlans` (the one query
/// option it supports).
pub fn list() -> GraphRequest {
    GraphRequest::get("/subscribedSkus?$select=skuPartNumber,capabilityStatus,servicePlans")
}

/// The service plans (e.g. `AAD_PREMIUM`) the tenant can use, from its SKUs.
pub fn active_plans(skus: &[SubscribedSku]) -> Vec<String> {
    let mut out: Vec<String> = skus
        .iter()
        .filter(|s| {
            s.capability_status.as_deref().is_some_and(|c| {
                c.eq_ignore_ascii_case("Enabled") || c.eq_ignore_ascii_case("Warning")
            })
        })
        .flat_map(|s| &s.service_plans)
        .filter(|p| {
            p.provisioning_status
                .as_deref()
                .is_none_or(|st| st.eq_ignore_ascii_case("Success"))
        })
        .filter_map(|p| p.service_plan_name.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enabled_provisioned_plans_count() {
        let skus: Vec<SubscribedSku> = serde_json::from_value(serde_json::json!([
            {"skuPartNumber": "AAD_PREMIUM_P2", "capabilityStatus": "Enabled", "servicePlans": [
                {"servicePlanName": "AAD_PREMIUM", "provisioningStatus": "Success"},
                {"servicePlanName": "AAD_PREMIUM_P2", "provisioningStatus": "Disabled"}]},
            {"skuPartNumber": "INTUNE_A", "capabilityStatus": "Suspended", "servicePlans": [
                {"servicePlanName": "INTUNE_A", "provisioningStatus": "Success"}]}
        ]))
        .unwrap();
        assert_eq!(active_plans(&skus), vec!["AAD_PREMIUM".to_string()]);
    }
}
