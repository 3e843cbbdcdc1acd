//! Where the token and client secrets may go: HTTPS, or plain HTTP to a loopback address only
//! (the emulator). Both the Graph client and the sign-in authority check their URLs here.

use std::net::IpAddr;

use url::Url;

/// Check a Graph root given by `--graph-url` / `LOCKDOWN_GRAPH_URL`: HTTPS, or plain HTTP to a
/// loopback address only (the emulator). No credentials, query or fragment.
pub fn parse_root(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{value}` has no host"))?
        .to_owned();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "refusing plain HTTP to `{host}`: the bearer token would travel unencrypted; use https (plain http is allowed only to a loopback address)"
            ))
        }
        other => return Err(format!("unsupported scheme `{other}` in `{value}`; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the Graph URL must not carry credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the Graph URL must not have a query or fragment".into());
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_must_be_https_or_loopback_http() {
        assert!(parse_root("https://graph.microsoft.com").is_ok());
        assert!(parse_root("https://graph.microsoft.com/").is_ok());
        assert!(parse_root("http://127.0.0.1:8080").is_ok());
        assert!(parse_root("http://localhost:8080").is_ok());
        assert!(parse_root("http://[::1]:8080").is_ok());
        assert!(parse_root("http://graph.example.com").is_err());
        assert!(parse_root("http://10.0.0.1").is_err());
        assert!(parse_root("ftp://graph.microsoft.com").is_err());
        assert!(parse_root("https://user:pw@graph.microsoft.com").is_err());
        assert!(parse_root("not a url").is_err());
    }
}
