//! How hard a client secret of the built-in token endpoint is to guess,
//! estimated from the secret alone, so that a weak one is refused when the
//! material is loaded: with 128 bits, guessing is pointless at any rate the
//! throttle allows.
//!
//! The estimate is `counted length × log2(alphabet)`:
//! - the alphabet is the sum of the character classes the secret uses:
//!   a–z 26, A–Z 26, 0–9 10, anything else 33 (ASCII punctuation and space;
//!   other characters count as that class too); a secret of hex digits only,
//!   of one case, has an alphabet of 16 (what `openssl rand -hex` makes);
//! - the counted length is the length of the shortest block the secret
//!   repeats at least twice (`abcabcabc` and `abcabca` count 3; a secret
//!   that repeats nothing counts every character).
//!
//! A secret is also refused as trivially repetitive when a single character
//! makes up more than half of it, or when it has fewer runs of one
//! character than half its length (`aaaabbbbcccc…`). Random secrets of 128
//! bits or more pass, with one caveat: only the classes a secret happens to
//! use count, so a random secret at the very bound can miss one and be
//! refused (generate with room to spare). No dictionary is consulted, so a
//! long passphrase of words passes too: generate secrets, do not write them.

/// Least estimated entropy of a client secret.
pub const MIN_SECRET_BITS: f64 = 128.0;

/// Why a secret is refused. Never carries the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// The estimate is under [`MIN_SECRET_BITS`].
    TooFewBits,
    /// A repeated character or long runs of one.
    TooRepetitive,
}

fn class_size(c: char) -> (usize, u32) {
    match c {
        'a'..='z' => (0, 26),
        'A'..='Z' => (1, 26),
        '0'..='9' => (2, 10),
        _ => (3, 33),
    }
}

/// The alphabet the estimate assumes for `chars`.
fn alphabet(chars: &[char]) -> u32 {
    let mut used = [0u32; 4];
    for c in chars {
        let (class, size) = class_size(*c);
        if let Some(slot) = used.get_mut(class) {
            *slot = size;
        }
    }
    let classes: u32 = used.iter().sum();
    let lower_hex = chars.iter().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    let upper_hex = chars.iter().all(|c| matches!(c, '0'..='9' | 'A'..='F'));
    if lower_hex || upper_hex {
        classes.min(16)
    } else {
        classes
    }
}

/// The length of the shortest block that `chars` repeats at least twice (a
/// prefix of it repeated gives the whole), or the whole length when it
/// repeats none: by the prefix function, in linear time. A first character
/// that merely recurs at the end is no repetition, so a random secret keeps
/// its full length.
fn counted_length(chars: &[char]) -> usize {
    let n = chars.len();
    let mut prefix = vec![0usize; n];
    for i in 1..n {
        let mut k = prefix.get(i - 1).copied().unwrap_or(0);
        while k > 0 && chars.get(i) != chars.get(k) {
            k = prefix.get(k - 1).copied().unwrap_or(0);
        }
        if chars.get(i) == chars.get(k) {
            k += 1;
        }
        if let Some(slot) = prefix.get_mut(i) {
            *slot = k;
        }
    }
    let period = n - prefix.last().copied().unwrap_or(0);
    if 2 * period <= n { period } else { n }
}

/// The estimated entropy of `secret`, in bits (see the module docs).
pub fn estimated_bits(secret: &str) -> f64 {
    let chars: Vec<char> = secret.chars().collect();
    let alphabet = alphabet(&chars);
    if chars.is_empty() || alphabet < 2 {
        return 0.0;
    }
    counted_length(&chars) as f64 * f64::from(alphabet).log2()
}

fn trivially_repetitive(secret: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len();
    let runs = 1 + chars
        .windows(2)
        .filter(|pair| pair.first() != pair.last())
        .count();
    let mut sorted = chars.clone();
    sorted.sort_unstable();
    let most_common = sorted
        .chunk_by(|a, b| a == b)
        .map(<[char]>::len)
        .max()
        .unwrap_or(0);
    2 * runs < n || 2 * most_common > n
}

/// `Ok` when `secret` is strong enough to guard the token endpoint.
pub fn check_client_secret(secret: &str) -> Result<(), Weakness> {
    if trivially_repetitive(secret) {
        return Err(Weakness::TooRepetitive);
    }
    if estimated_bits(secret) < MIN_SECRET_BITS {
        return Err(Weakness::TooFewBits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_pass() {
        for secret in [
            // openssl rand -hex 16 / 24 / 32
            "3f9c1a7e5b2d4c8f9a0b1c2d3e4f5a6b",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
            "9F86D081884C7D659A2FEAA0C55AD015",
            // openssl rand -base64 24
            "q7Vb2k+X9mP4/tR8sL1wZ3nH6yC5dF0e",
            // 22 random letters and digits
            "Xk3v9QmT2pL8wR4zN7bY1c",
            // 20 random printable characters
            "k9P2-vQ7+xR4/zT8mW1s",
        ] {
            assert_eq!(check_client_secret(secret), Ok(()), "{secret}");
        }
    }

    #[test]
    fn short_and_small_alphabet_secrets_are_refused() {
        for secret in [
            "",
            "a-long-enough-secret",
            "another-long-secret",
            // 31 hex digits: 124 bits.
            "3f9c1a7e5b2d4c8f9a0b1c2d3e4f5a6",
            // 38 decimal digits: 126 bits.
            "12345678901234567890918273645546372819",
            "Xk3v9QmT2pL8wR4zN7bY1",
        ] {
            assert_eq!(
                check_client_secret(secret),
                Err(Weakness::TooFewBits),
                "{secret}"
            );
        }
    }

    #[test]
    fn repeated_blocks_count_once() {
        assert_eq!(counted_length(&"abcabcabc".chars().collect::<Vec<_>>()), 3);
        assert_eq!(counted_length(&"abcabca".chars().collect::<Vec<_>>()), 3);
        assert_eq!(counted_length(&"abcd".chars().collect::<Vec<_>>()), 4);
        // The first character recurring at the end is no repetition.
        assert_eq!(counted_length(&"abcda".chars().collect::<Vec<_>>()), 5);
        assert_eq!(check_client_secret("s3cret+with/odd=chars"), Ok(()));
        // 21 random characters (125 bits), four times.
        let doubled = "Xk3v9QmT2pL8wR4zN7bY1".repeat(4);
        assert_eq!(check_client_secret(&doubled), Err(Weakness::TooFewBits));
        assert_eq!(
            check_client_secret(&"changeme-".repeat(10)),
            Err(Weakness::TooFewBits)
        );
    }

    #[test]
    fn trivially_repetitive_secrets_are_refused() {
        for secret in [
            "a".repeat(64),
            format!("{}b", "a".repeat(63)),
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd".to_owned(),
            "xaxbxcxdxexfxgxhxixjxkxlxmxnxoxpxqxrxsxtxuxvxwxyxzxAxBxCxDxExFx".to_owned(),
        ] {
            assert_eq!(
                check_client_secret(&secret),
                Err(Weakness::TooRepetitive),
                "{secret}"
            );
        }
    }

    #[test]
    fn the_alphabet_is_the_classes_used() {
        let bits = |s: &str| estimated_bits(s);
        assert_eq!(bits("0123456789abcdef"), 16.0 * 4.0);
        assert!((bits("0123456789") - 10.0 * 10f64.log2()).abs() < 1e-9);
        assert!((bits("abcdefgh") - 8.0 * 26f64.log2()).abs() < 1e-9);
        assert!((bits("abcdefgZ") - 8.0 * 52f64.log2()).abs() < 1e-9);
        assert!((bits("aB3!") - 4.0 * 95f64.log2()).abs() < 1e-9);
        assert!((bits("ég") - 2.0 * 59f64.log2()).abs() < 1e-9);
    }
}
