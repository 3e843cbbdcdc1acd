//! Random passwords for the reset step (`PATCH /users/{id}` with `passwordProfile`; learn:
//! graph/api/user-update, graph/api/resources/passwordprofile).
//!
//! The password exists only to lock the attacker out: nobody is told it, so it is long, drawn
//! from the operating system's CSPRNG and wrapped in [`Secret`] straight away.
//!
//! Entra's rule (learn: entra concept-sspr-policy, "Password policies that only apply to cloud
//! user accounts"): 8–256 characters, no Unicode, at least three of lower case, upper case,
//! digits and symbols, symbols from
//! `@ # $ % ^ & * - _ ! + = [ ] { } | \ : ' , . ? / ` ~ " ( ) ; < >` and space.

use rand::rngs::OsRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::TryRngCore;

use crate::secret::Secret;

pub const LENGTH: usize = 32;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// Every symbol Entra accepts in a cloud password.
const ENTRA_SYMBOLS: &[u8] = b"@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";

/// The symbols `generate` uses: Entra's set minus those that trip tooling when a password is
/// pasted or quoted (space, `'`, `"`, `` ` ``, `\`, and the shell/URL/markup metacharacters
/// `$ % & | ; < > /`). Thirteen symbols plus 62 letters and digits still give about 199 bits.
const GENERATED_SYMBOLS: &[u8] = b"!#*+-.:=?@^_~";

/// A random password nobody sees: 32 ASCII characters from the OS CSPRNG with at least one
/// lower-case letter, upper-case letter, digit and symbol, in uniformly shuffled order.
pub fn generate() -> Secret {
    // OsRng asks the kernel for every byte; `unwrap_err` turns its (practically impossible)
    // failure into a panic rather than a weak password.
    let mut rng = OsRng.unwrap_err();
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, GENERATED_SYMBOLS].concat();

    let mut bytes = Vec::with_capacity(LENGTH);
    for class in [LOWER, UPPER, DIGITS, GENERATED_SYMBOLS] {
        bytes.push(*class.choose(&mut rng).expect("non-empty class"));
    }
    while bytes.len() < LENGTH {
        bytes.push(*all.choose(&mut rng).expect("non-empty alphabet"));
    }
    // The four guaranteed characters must not sit at known positions.
    bytes.shuffle(&mut rng);

    Secret::new(String::from_utf8(bytes).expect("ASCII alphabet"))
}

/// Whether `p` satisfies Entra's cloud password complexity: 8–256 characters, ASCII only, only
/// Entra's allowed symbols, and at least three of the four character classes.
pub fn meets_entra_complexity(p: &str) -> bool {
    if !(8..=256).contains(&p.len()) || !p.is_ascii() {
        return false;
    }
    let (mut lower, mut upper, mut digit, mut symbol) = (false, false, false, false);
    for b in p.bytes() {
        match b {
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' => upper = true,
            b'0'..=b'9' => digit = true,
            _ if ENTRA_SYMBOLS.contains(&b) => symbol = true,
            _ => return false,
        }
    }
    [lower, upper, digit, symbol].iter().filter(|&&c| c).count() >= 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_symbols_are_a_subset_of_entras() {
        assert!(GENERATED_SYMBOLS.iter().all(|b| ENTRA_SYMBOLS.contains(b)));
        for awkward in b" '\"`\\$%&|;<>/" {
            assert!(!GENERATED_SYMBOLS.contains(awkward), "{}", *awkward as char);
        }
    }

    #[test]
    fn generated_password_has_every_class() {
        let s = generate();
        let p = s.expose();
        assert_eq!(p.len(), LENGTH);
        assert!(p.bytes().any(|b| b.is_ascii_lowercase()));
        assert!(p.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(p.bytes().any(|b| b.is_ascii_digit()));
        assert!(p.bytes().any(|b| GENERATED_SYMBOLS.contains(&b)));
        assert!(p.bytes().all(|b| LOWER.contains(&b)
            || UPPER.contains(&b)
            || DIGITS.contains(&b)
            || GENERATED_SYMBOLS.contains(&b)));
    }

    #[test]
    fn generated_passwords_differ_and_stay_secret() {
        let a = generate();
        let b = generate();
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?} {a}").contains(a.expose()));
    }

    #[test]
    fn guaranteed_characters_are_not_at_fixed_positions() {
        // Without the shuffle, position 0 would always be lower case.
        let firsts: Vec<u8> = (0..200)
            .map(|_| generate().expose().as_bytes()[0])
            .collect();
        assert!(firsts.iter().any(|b| !b.is_ascii_lowercase()));
        assert!(firsts.iter().any(|b| b.is_ascii_lowercase()));
    }

    #[test]
    fn complexity_rule() {
        assert!(meets_entra_complexity("abcDEF12"));
        assert!(meets_entra_complexity("abcdef1!"));
        assert!(meets_entra_complexity("ABCDEF1 "));
        assert!(
            !meets_entra_complexity("abc\\\"'`<>"),
            "lower and symbols only"
        );
        assert!(meets_entra_complexity("aB1\\\"'`<>"));
        assert!(!meets_entra_complexity("abcDEF1"), "7 characters");
        assert!(meets_entra_complexity(&format!("aB1{}", "x".repeat(253))));
        assert!(!meets_entra_complexity(&format!("aB1{}", "x".repeat(254))));
        assert!(!meets_entra_complexity("abcdefgh12"), "two classes");
        assert!(!meets_entra_complexity("abcDEF12é"), "non-ASCII");
        assert!(!meets_entra_complexity("abcDEF12\t"), "tab is not a symbol");
        assert!(!meets_entra_complexity("abcDEF12\u{7f}"), "DEL");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generate_always_meets_complexity(_n in 0u8..1) {
            let s = generate();
            prop_assert_eq!(s.expose().len(), LENGTH);
            prop_assert!(meets_entra_complexity(s.expose()));
        }
    }
}
