//! A user reference as given (a userPrincipalName or an object id): parsed and checked against
//! Entra's rules before anything is sent, so a bad entry gets a clear error for itself. Turning
//! one into a Graph path is the Graph client's business (`crate::graph::address`).

use std::fmt;

/// Entra's limits on a userPrincipalName: 64 characters before the `@`, 48 after, 113 in all
/// (learn: entra concept-sspr-policy, "userPrincipalName policies"; support.microsoft.com
/// KB 2439357). The total follows from the two parts plus the `@`.
pub const MAX_LOCAL_LEN: usize = 64;
pub const MAX_DOMAIN_LEN: usize = 48;
pub const MAX_UPN_LEN: usize = MAX_LOCAL_LEN + 1 + MAX_DOMAIN_LEN;

/// A validated reference to a user as given on the command line or in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    Upn(String),
    ObjectId(uuid::Uuid),
}

/// Why one entry is not a usable user reference. `Display` is a phrase about the entry
/// ("local part is 70 characters; …"); callers put the entry itself in front of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUserRef {
    #[error("is empty")]
    Empty,
    #[error("contains a control character")]
    ControlCharacter,
    #[error("contains whitespace")]
    Whitespace,
    #[error("is neither a userPrincipalName nor an object id (GUID)")]
    NeitherUpnNorId,
    #[error("contains {0} '@' characters; a userPrincipalName has exactly one")]
    TooManyAts(usize),
    #[error("has nothing before the '@'")]
    EmptyLocalPart,
    #[error("has nothing after the '@'")]
    EmptyDomain,
    #[error("local part is {0} characters; Entra allows at most {MAX_LOCAL_LEN}")]
    LocalPartTooLong(usize),
    #[error("domain is {0} characters; Entra allows at most {MAX_DOMAIN_LEN}")]
    DomainTooLong(usize),
    #[error("contains the non-ASCII character {0:?}; Entra does not allow accented or other non-ASCII characters in a userPrincipalName")]
    NonAscii(char),
    #[error("local part contains {0:?}, which Entra does not allow in a userPrincipalName (allowed: A-Z a-z 0-9 ' . - _ ! # ^ ~)")]
    LocalPartCharacter(char),
    #[error("has '$' after the first character; Entra allows '$' only at the start of a userPrincipalName")]
    DollarNotFirst,
    #[error("local part starts or ends with '.'")]
    LocalPartDotAtEdge,
    #[error("domain contains {0:?}; a domain name has only letters, digits, '-' and '.'")]
    DomainCharacter(char),
    #[error("domain {0:?} is not a dot-separated domain name (like contoso.com)")]
    DomainShape(String),
}

impl UserRef {
    /// Parse and validate one entry (already trimmed of whitespace/quotes by the caller).
    pub fn parse(s: &str) -> Result<UserRef, InvalidUserRef> {
        if s.is_empty() {
            return Err(InvalidUserRef::Empty);
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidUserRef::ControlCharacter);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(InvalidUserRef::Whitespace);
        }
        if let Some(id) = parse_guid(s) {
            return Ok(UserRef::ObjectId(id));
        }
        let ats = s.matches('@').count();
        match ats {
            0 => return Err(InvalidUserRef::NeitherUpnNorId),
            1 => {}
            n => return Err(InvalidUserRef::TooManyAts(n)),
        }
        let (local, domain) = s.split_once('@').expect("one '@'");
        validate_local_part(local)?;
        validate_domain(domain)?;
        Ok(UserRef::Upn(s.to_owned()))
    }

    /// The canonical key for de-duplication: lower-cased UPN or the hyphenated GUID. UPNs are
    /// case-insensitive in Entra. A UPN and the object id of the same user get different keys.
    pub fn dedup_key(&self) -> String {
        match self {
            UserRef::Upn(upn) => upn.to_ascii_lowercase(),
            UserRef::ObjectId(id) => id.hyphenated().to_string(),
        }
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRef::Upn(upn) => f.write_str(upn),
            UserRef::ObjectId(id) => write!(f, "{}", id.hyphenated()),
        }
    }
}

/// A GUID in the hyphenated 8-4-4-4-12 form, any case, optionally in braces.
fn parse_guid(s: &str) -> Option<uuid::Uuid> {
    let inner = match s.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => s,
    };
    // uuid also accepts the 32-digit simple and urn: forms; only the hyphenated one is what
    // Entra shows and exports, so anything else is reported rather than guessed at.
    if inner.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(inner).ok()
}

/// Local-part rules from Entra's userPrincipalName policy (learn: entra concept-sspr-policy;
/// graph/api/resources/user, userPrincipalName: "only the following characters are allowed
/// A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~"), with `$` at the start as user-get documents.
fn validate_local_part(local: &str) -> Result<(), InvalidUserRef> {
    if local.is_empty() {
        return Err(InvalidUserRef::EmptyLocalPart);
    }
    if let Some(c) = local.chars().find(|c| !c.is_ascii()) {
        return Err(InvalidUserRef::NonAscii(c));
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(InvalidUserRef::LocalPartTooLong(local.len()));
    }
    for (i, c) in local.char_indices() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '\'' | '.' | '-' | '_' | '!' | '#' | '^' | '~' => {}
            '$' if i == 0 => {}
            '$' => return Err(InvalidUserRef::DollarNotFirst),
            other => return Err(InvalidUserRef::LocalPartCharacter(other)),
        }
    }
    // "Can't contain a period character (.) immediately preceding the @ symbol" (KB 2439357);
    // a leading dot is refused for the same reason (RFC 5322 dot-atom).
    if local.starts_with('.') || local.ends_with('.') {
        return Err(InvalidUserRef::LocalPartDotAtEdge);
    }
    Ok(())
}

/// The part after '@' is a verified DNS domain of the tenant: at least two labels of letters,
/// digits and hyphens, no label empty or starting/ending with a hyphen.
fn validate_domain(domain: &str) -> Result<(), InvalidUserRef> {
    if domain.is_empty() {
        return Err(InvalidUserRef::EmptyDomain);
    }
    if let Some(c) = domain.chars().find(|c| !c.is_ascii()) {
        return Err(InvalidUserRef::NonAscii(c));
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(InvalidUserRef::DomainTooLong(domain.len()));
    }
    if let Some(c) = domain
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(InvalidUserRef::DomainCharacter(c));
    }
    let well_formed = domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if !well_formed {
        return Err(InvalidUserRef::DomainShape(domain.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn upn(s: &str) -> UserRef {
        UserRef::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> InvalidUserRef {
        UserRef::parse(s).expect_err(s)
    }

    #[test]
    fn object_ids_in_any_case_and_braces() {
        let lower = "0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0f";
        let want = UserRef::ObjectId(uuid::Uuid::parse_str(lower).unwrap());
        assert_eq!(upn(lower), want);
        assert_eq!(upn(&lower.to_uppercase()), want);
        assert_eq!(upn(&format!("{{{}}}", lower.to_uppercase())), want);
        assert_eq!(want.to_string(), lower);
        assert_eq!(want.dedup_key(), lower);
    }

    #[test]
    fn other_guid_spellings_are_refused() {
        for s in [
            "0b6d4b9e8f2a4c1d9e3f5a6b7c8d9e0f",
            "{0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0f",
            "0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0f}",
            "urn:uuid:0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0f",
            "0b6d4b9e-8f2a-4c1d-9e3f-5a6b7c8d9e0g",
        ] {
            assert_eq!(err(s), InvalidUserRef::NeitherUpnNorId, "{s}");
        }
    }

    #[test]
    fn length_limits_at_exact_boundaries() {
        let local64 = "a".repeat(64);
        let domain48 = format!("{}.com", "d".repeat(44));
        assert_eq!(domain48.len(), 48);
        let max = format!("{local64}@{domain48}");
        assert_eq!(max.len(), MAX_UPN_LEN);
        assert_eq!(MAX_UPN_LEN, 113);
        upn(&max);

        let e = err(&format!("{}@{domain48}", "a".repeat(65)));
        assert_eq!(e, InvalidUserRef::LocalPartTooLong(65));
        let e = err(&format!("{}@contoso.com", "a".repeat(70)));
        assert_eq!(
            e.to_string(),
            "local part is 70 characters; Entra allows at most 64"
        );
        let e = err(&format!("{local64}@d{domain48}"));
        assert_eq!(e, InvalidUserRef::DomainTooLong(49));
        assert_eq!(
            e.to_string(),
            "domain is 49 characters; Entra allows at most 48"
        );
    }

    #[test]
    fn control_characters_and_whitespace() {
        assert_eq!(
            err("adele\u{0}@contoso.com").to_string(),
            "contains a control character"
        );
        assert_eq!(
            err("adele@contoso.com\r").to_string(),
            "contains a control character"
        );
        assert_eq!(
            err("\u{1b}[31madele@contoso.com"),
            InvalidUserRef::ControlCharacter
        );
        assert_eq!(err("a dele@contoso.com"), InvalidUserRef::Whitespace);
        assert_eq!(err("adele@contoso.com\u{a0}"), InvalidUserRef::Whitespace);
    }

    #[test]
    fn shapes_that_are_not_upns() {
        assert_eq!(err(""), InvalidUserRef::Empty);
        assert_eq!(
            err("adele").to_string(),
            "is neither a userPrincipalName nor an object id (GUID)"
        );
        assert_eq!(err("a@b@contoso.com"), InvalidUserRef::TooManyAts(2));
        assert_eq!(err("@contoso.com"), InvalidUserRef::EmptyLocalPart);
        assert_eq!(err("adele@"), InvalidUserRef::EmptyDomain);
        assert_eq!(
            err("adele.@contoso.com"),
            InvalidUserRef::LocalPartDotAtEdge
        );
        assert_eq!(
            err(".adele@contoso.com"),
            InvalidUserRef::LocalPartDotAtEdge
        );
        assert_eq!(
            err("a+b@contoso.com"),
            InvalidUserRef::LocalPartCharacter('+')
        );
        assert_eq!(
            err("a/b@contoso.com"),
            InvalidUserRef::LocalPartCharacter('/')
        );
        assert_eq!(
            err("a%b@contoso.com"),
            InvalidUserRef::LocalPartCharacter('%')
        );
        assert_eq!(err("ad$le@contoso.com"), InvalidUserRef::DollarNotFirst);
        assert_eq!(err("adèle@contoso.com"), InvalidUserRef::NonAscii('è'));
        assert_eq!(
            err("adele@contoso"),
            InvalidUserRef::DomainShape("contoso".into())
        );
        assert_eq!(
            err("adele@contoso..com"),
            InvalidUserRef::DomainShape("contoso..com".into())
        );
        assert_eq!(
            err("adele@-contoso.com"),
            InvalidUserRef::DomainShape("-contoso.com".into())
        );
        assert_eq!(
            err("adele@contoso.com/x"),
            InvalidUserRef::DomainCharacter('/')
        );
        assert_eq!(
            err("adele@contoso#.com"),
            InvalidUserRef::DomainCharacter('#')
        );
    }

    #[test]
    fn display_and_dedup_key() {
        let u = upn("Adele.Vance@Contoso.com");
        assert_eq!(u.to_string(), "Adele.Vance@Contoso.com");
        assert_eq!(u.dedup_key(), "adele.vance@contoso.com");
    }

    fn valid_upn() -> impl Strategy<Value = String> {
        let local = "[$]?[A-Za-z0-9'_!#^~-]([A-Za-z0-9'._!#^~-]{0,61}[A-Za-z0-9'_!#^~-])?";
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?";
        (
            local,
            proptest::collection::vec(label, 2..5).prop_filter("domain length", |labels| {
                labels.iter().map(|l| l.len() + 1).sum::<usize>() - 1 <= MAX_DOMAIN_LEN
            }),
        )
            .prop_filter("local length", |(l, _)| l.len() <= MAX_LOCAL_LEN)
            .prop_map(|(l, labels)| format!("{l}@{}", labels.join(".")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn valid_upns_round_trip(s in valid_upn()) {
            let parsed = UserRef::parse(&s);
            prop_assert_eq!(&parsed, &Ok(UserRef::Upn(s.clone())));
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.to_string(), s);
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = UserRef::parse(&s);
        }
    }
}
