//! National clouds: each pairs a Graph host with its sign-in authority (learn: graph/deployments).

use azure_core::cloud::CloudConfiguration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    /// Microsoft Graph global service: graph.microsoft.com, login.microsoftonline.com.
    Global,
    /// US Government L4 (GCC High): graph.microsoft.us, login.microsoftonline.us.
    Usgov,
    /// US Government L5 (DoD): dod-graph.microsoft.us, login.microsoftonline.us.
    UsgovDod,
    /// Microsoft Graph China operated by 21Vianet: microsoftgraph.chinacloudapi.cn.
    China,
}

impl Cloud {
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::Usgov => "https://graph.microsoft.us",
            Cloud::UsgovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    pub fn azure_cloud(self) -> CloudConfiguration {
        match self {
            Cloud::Global => CloudConfiguration::AzurePublic,
            // Both US Government Graph deployments sign in at login.microsoftonline.us.
            Cloud::Usgov | Cloud::UsgovDod => CloudConfiguration::AzureGovernment,
            Cloud::China => CloudConfiguration::AzureChina,
        }
    }

    /// Whether `host` is one of Microsoft Graph's own hosts.
    pub fn is_graph_host(host: &str) -> bool {
        [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China]
            .iter()
            .any(|c| c.graph_root().trim_start_matches("https://") == host.to_ascii_lowercase())
    }
}
