//! Webhook secrets and the two signature schemes every delivery carries.
//!
//! - `X-Klinivo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`, keyed
//!   with the secret string exactly as the public docs' Node and Python snippets use it (its
//!   UTF-8 bytes, `whsec_` prefix included). Exactly one `v1`, as those snippets expect.
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//!   `webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + t + "." + body)>`, keyed with the
//!   base64-decoded part of the secret after `whsec_`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + standard base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The signature headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    /// `X-Klinivo-Signature`.
    pub klinivo: String,
    /// `webhook-signature`.
    pub standard: String,
}

/// Signs `body` for the attempt made at `timestamp` (unix seconds); `message_id` is the
/// event id, sent as `webhook-id`.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Signatures {
    Signatures {
        klinivo: klinivo_signature(secret, timestamp, body),
        standard: standard_signature(secret, message_id, timestamp, body),
    }
}

/// `t=<timestamp>,v1=<hex>`.
pub fn klinivo_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// `v1,<base64>`.
pub fn standard_signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(&standard_key(secret));
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks key: the bytes the part after `whsec_` encodes. Every secret this
/// server issues decodes; anything else is used as raw bytes rather than not signed at all.
fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of every length; this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The test vector published with the Standard Webhooks / Svix libraries.
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn klinivo_and_standard_vectors_computed_by_the_public_python_snippet() {
        let secret = "whsec_plJ3nmyCDGBKInavdOK15jsl+uCR5aGQKbGBCDFZnGg=";
        let id = "evt_00000000-0000-4000-8000-000000000001";
        let body = br#"{"id":"evt_00000000-0000-4000-8000-000000000001","type":"patient.created"}"#;
        let s = sign(secret, id, 1764316800, body);
        assert_eq!(s.klinivo, "t=1764316800,v1=c9f88660434fb36fcc472d2257bc518d9be33e0915d976e6df5a0c7420253639");
        assert_eq!(s.standard, "v1,zhj7cMIzm8/W9Wn8js9ppv7cGhi51WZcNJdZghzXXRc=");
    }

    #[test]
    fn secrets_are_prefixed_base64_of_32_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        let encoded = a.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32);
    }

    #[test]
    fn the_klinivo_header_has_exactly_one_v1_and_parses_like_the_snippets() {
        let header = klinivo_signature("whsec_x", 42, b"{}");
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "t=42");
        assert!(parts[1].starts_with("v1=") && parts[1].len() == 3 + 64);
    }
}
