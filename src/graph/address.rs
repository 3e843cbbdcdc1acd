//! The Graph URL path that addresses a user (a userPrincipalName or an object id):
//! `GET/PATCH /users/{id | userPrincipalName}` (learn: graph/api/user-get, graph/api/user-update).
//! Every user path lockdown sends is built here.
//!
//! Two things make this more than string concatenation:
//! - userPrincipalNames carry characters that mean something in a URL. Guest accounts look like
//!   `pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com`; an unencoded `#` starts a fragment and
//!   the rest of the name never reaches Graph, so it must be sent as `%23` (learn: graph/api/user-get).
//! - A UPN beginning with `$` is read by Graph as an OData system segment and fails; user-get says
//!   to use the key form `/users('$AdeleVance@contoso.com')` instead. Inside that quoted OData
//!   string literal a `'` is written twice (learn: graph/query-parameters, "Encoding query
//!   parameters").
//!
//! [`user_path`] is also the last line of defence for strings that were never validated (ids
//! read back from Graph, UPNs from a file): whatever it is given, the result addresses exactly one
//! user segment under `/users` and never adds a query, a fragment or another path segment.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters sent as they are in a user path segment. All are legal in an RFC 3986 path segment
/// except `^`, which the WHATWG URL parser (the `url` crate behind reqwest) and hyper pass through
/// unchanged and Graph accepts literally (microsoftgraph/msgraph-sdk-dotnet#1101 shows Graph
/// Explorer resolving a UPN with `'#-_!^~` this way). Everything else — `/ ? # % \`, space,
/// control characters, other punctuation and every non-ASCII byte — is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'!')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'$')
    .remove(b'+')
    .remove(b'^');

/// The Graph path for an already-resolved object id or a UPN string, with the same encoding as
/// [`UserRef::path`]. Safe for any input: the result is always `/users/<one encoded segment>` or
/// `/users('<encoded key>')`.
pub fn user_path(id_or_upn: &str) -> String {
    // The key form is needed for a leading '$' (learn: graph/api/user-get). It is also used for
    // "", "." and "..": as a plain segment these would address the users collection or, after
    // dot-segment removal by the URL parser, a different path altogether (the `url` crate also
    // treats "%2e" as a dot, so encoding cannot help).
    if id_or_upn.starts_with('$') || matches!(id_or_upn, "" | "." | "..") {
        let doubled = id_or_upn.replace('\'', "''");
        format!("/users('{}')", utf8_percent_encode(&doubled, SEGMENT))
    } else {
        format!("/users/{}", utf8_percent_encode(id_or_upn, SEGMENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::UserRef;
    use proptest::prelude::*;

    fn upn(s: &str) -> String {
        let parsed = UserRef::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"));
        user_path(&parsed.to_string())
    }

    #[test]
    fn plain_upn_keeps_at_literal() {
        assert_eq!(upn("adele@contoso.com"), "/users/adele@contoso.com");
    }

    #[test]
    fn guest_upn_encodes_hash() {
        let u = UserRef::parse("pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            user_path(&u.to_string()),
            "/users/pradeep_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
        );
    }

    #[test]
    fn dollar_upn_uses_key_form_with_doubled_quotes() {
        assert_eq!(upn("$lidia@contoso.com"), "/users('$lidia@contoso.com')");
        assert_eq!(upn("$o'neil@contoso.com"), "/users('$o''neil@contoso.com')");
    }

    #[test]
    fn apostrophe_stays_literal_outside_key_form() {
        assert_eq!(
            upn("john.o'smith@contoso.com"),
            "/users/john.o'smith@contoso.com"
        );
    }

    #[test]
    fn allowed_punctuation_stays_literal() {
        assert_eq!(
            upn("a.b-c_d!e^f~g'h@x-y.example.com"),
            "/users/a.b-c_d!e^f~g'h@x-y.example.com"
        );
    }

    #[test]
    fn user_path_neutralises_hostile_strings() {
        assert_eq!(user_path(""), "/users('')");
        assert_eq!(user_path("."), "/users('.')");
        assert_eq!(user_path(".."), "/users('..')");
        assert_eq!(user_path("../groups"), "/users/..%2Fgroups");
        assert_eq!(user_path("a?$select=x"), "/users/a%3F$select%3Dx");
        assert_eq!(user_path("a\\b"), "/users/a%5Cb");
        assert_eq!(user_path("100%"), "/users/100%25");
        assert_eq!(user_path("a b\tc\n"), "/users/a%20b%09c%0A");
        assert_eq!(user_path("é"), "/users/%C3%A9");
        assert_eq!(user_path("$count"), "/users('$count')");
    }

    /// Splits a joined URL into segments and returns the key the server would see.
    fn key_seen_by_graph(path: &str) -> Result<String, String> {
        let full = format!("https://graph.microsoft.com/v1.0{path}");
        let url = url::Url::parse(&full).map_err(|e| e.to_string())?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("query or fragment in {url}"));
        }
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|e| e.to_string())
        };
        match segments.as_slice() {
            ["v1.0", "users", seg] => decode(seg),
            ["v1.0", seg] => {
                let inner = seg
                    .strip_prefix("users('")
                    .and_then(|s| s.strip_suffix("')"))
                    .ok_or_else(|| format!("unexpected segment {seg}"))?;
                Ok(decode(inner)?.replace("''", "'"))
            }
            other => Err(format!("unexpected segments {other:?}")),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_string_addresses_exactly_one_user(s in any::<String>()) {
            prop_assert_eq!(key_seen_by_graph(&user_path(&s)), Ok(s));
        }

        #[test]
        fn url_ish_strings_address_exactly_one_user(s in "[./?#%\\\\ $'@a-z\t\n]{0,12}") {
            prop_assert_eq!(key_seen_by_graph(&user_path(&s)), Ok(s));
        }
    }
}
