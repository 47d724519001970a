//! The console's secrets: random tokens (session cookies, set-password links, CSRF tokens), of
//! which only a SHA-256 is stored, and passwords, of which only an Argon2id hash is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random token (256 bits, URL-safe base64) and the hash that is stored for it.
pub fn token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&text);
    (text, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer ones too: hashing is the expensive part of a sign-in, and its input has a bound.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a new password is refused, in words for the person choosing it; `None` when it is fine.
pub fn password_problem(password: &str, email: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some(format!("The password must be at least {MIN_PASSWORD_CHARS} characters long."));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Some(format!("The password must be at most {MAX_PASSWORD_CHARS} characters long."));
    }
    if password.trim().to_lowercase() == email {
        return Some("The password must not be the email address.".into());
    }
    None
}

/// The Argon2id hash of a password, in PHC string form, with the crate's default parameters
/// (19 MiB, 2 passes, 1 lane: OWASP's recommendation). CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches `hash`. With no hash (no such person, or no password set yet) a
/// fixed hash is checked instead, so that the answer takes as long either way.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let stored = hash.and_then(|h| PasswordHash::new(h).ok());
    match stored {
        Some(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        None => {
            if let Ok(decoy) = PasswordHash::new(DECOY_HASH) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &decoy);
            }
            false
        }
    }
}

/// An Argon2id hash (default parameters) of a random string nobody knows.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4X1WqJcwq1dM3Ttv8GXUy0lS8C8QvRrI0cjLJ0h2KkA";

/// Compares two secrets without leaking where they first differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterz", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
    }

    #[test]
    fn the_decoy_is_a_well_formed_hash_of_the_same_cost() {
        let decoy = PasswordHash::new(DECOY_HASH).unwrap();
        let real = hash_password("x".repeat(12).as_str()).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.params, real.params);
    }

    #[test]
    fn password_rules() {
        assert!(password_problem("short", "a@b.c").is_some());
        assert!(password_problem(&"x".repeat(257), "a@b.c").is_some());
        assert!(password_problem("owner@clinic.test", "owner@clinic.test").is_some());
        assert!(password_problem("twelve chars", "a@b.c").is_none());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}
