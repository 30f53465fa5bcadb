//! Secrets at rest and credential hashing: AES-256-GCM for connection
//! secrets (keyed by the server key), argon2 for passwords, SHA-256 for API
//! keys (long random strings need no slow hash), and random ids and keys.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// The prefix of a value sealed for its row ([`SecretBox::seal_for`]).
pub const BOUND_PREFIX: &str = "v2:";

/// Encrypts and decrypts connection secrets with the server key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// A box keyed by 32 bytes.
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plain` into base64(nonce ‖ ciphertext).
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("AES-GCM encryption does not fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Encrypts `plain` bound to `owner` (the id of the row that holds it,
    /// as AES-GCM associated data): `v2:` + base64(nonce ‖ ciphertext). It
    /// opens only for the same owner, so a sealed value copied to another
    /// row opens nowhere.
    pub fn seal_for(&self, plain: &str, owner: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{BOUND_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Decrypts what [`SecretBox::seal_for`] produced for `owner`; `None` if
    /// it was sealed for another owner, with another key, without an owner
    /// (the old form, re-sealed at start), or altered.
    pub fn open_for(&self, sealed: &str, owner: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(BOUND_PREFIX)?)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// Whether a sealed value is of the old form, bound to no row.
    pub fn is_unbound(sealed: &str) -> bool {
        !sealed.starts_with(BOUND_PREFIX)
    }

    /// Decrypts what [`SecretBox::seal`] produced; `None` if it was sealed with
    /// another key or altered.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), body).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::thread_rng());
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters does not fail")
        .to_string()
}

/// Checks a password against an argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// An argon2 hash of a random password, made once with the same parameters
/// as real hashes: checking a login for an unknown e-mail against it takes
/// as long as checking a known one, so timing does not tell which e-mails
/// exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token(32)))
}

/// Checks a login's password against the user's hash, or, when there is no
/// such user (`None`), against a dummy hash so both take the same time.
/// Always false without a user. CPU-heavy: call it on the blocking pool.
pub fn verify_login_password(password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(h) => verify_password(password, h),
        None => {
            let _ = verify_password(password, dummy_hash());
            false
        }
    }
}

/// Makes the dummy hash now (at start-up) rather than in the first login for
/// an unknown e-mail, which would otherwise take twice as long.
pub fn prepare_dummy_hash() {
    let _ = dummy_hash();
}

/// SHA-256 of an API key, hex.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A random lowercase alphanumeric string.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new opaque id with a readable prefix (`acc_…`, `key_…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(16))
}

/// 32 random bytes.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// HMAC-SHA256 of `message` under `key`, hex (used for CSRF tokens).
pub fn keyed_tag(key: &[u8], message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_round_trips_and_hides_plaintext() {
        let b = SecretBox::new(&[7u8; 32]);
        let sealed = b.seal("shpat_secret");
        assert!(!sealed.contains("shpat_secret"));
        assert_eq!(b.open(&sealed).as_deref(), Some("shpat_secret"));
        assert_eq!(SecretBox::new(&[8u8; 32]).open(&sealed), None);
    }

    /// A value sealed for one row opens for that row only, and the old
    /// unbound form does not open as a bound one.
    #[test]
    fn a_secret_sealed_for_a_row_opens_for_that_row_only() {
        let b = SecretBox::new(&[7u8; 32]);
        let sealed = b.seal_for("shpat_secret", "acc_a");
        assert!(!sealed.contains("shpat_secret"));
        assert_eq!(
            b.open_for(&sealed, "acc_a").as_deref(),
            Some("shpat_secret")
        );
        assert_eq!(b.open_for(&sealed, "acc_b"), None);
        assert_eq!(b.open(&sealed), None);
        let old = b.seal("shpat_secret");
        assert!(SecretBox::is_unbound(&old) && !SecretBox::is_unbound(&sealed));
        assert_eq!(b.open_for(&old, "acc_a"), None);
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("demo");
        assert!(verify_password("demo", &h));
        assert!(!verify_password("Demo", &h));
    }

    #[test]
    fn unknown_users_never_verify() {
        assert!(!verify_login_password("anything", None));
        let h = hash_password("right-password");
        assert!(verify_login_password("right-password", Some(&h)));
    }

    #[test]
    fn the_secret_box_does_not_print_its_key() {
        let shown = format!("{:?}", SecretBox::new(&[0xab; 32]));
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            keyed_tag(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
