//! API secret and token authentication (Janus `auth.c` and `janus_request_check_secret`).
//!
//! A request passes when nothing is configured, or when it carries the right `apisecret`, or a
//! valid `token`. Tokens are either stored (added at run time with their plugin ACL, e.g. by
//! the Admin API) or signed: `<expiry>,janus,<plugin>,...:<base64(HMAC-SHA1(secret, text))>`.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The realm Janus puts in its signed tokens.
const REALM: &str = "janus";

pub struct Auth {
    api_secret: Option<String>,
    token_auth: bool,
    signing_secret: Option<String>,
    /// Stored tokens and the plugins each may use (empty set = every plugin).
    stored: Mutex<HashMap<String, HashSet<String>>>,
}

impl Auth {
    pub fn new(
        api_secret: Option<String>,
        token_auth: bool,
        signing_secret: Option<String>,
    ) -> Self {
        Auth {
            api_secret,
            token_auth,
            signing_secret,
            stored: Mutex::new(HashMap::new()),
        }
    }

    pub fn api_secret_enabled(&self) -> bool {
        self.api_secret.is_some()
    }

    pub fn token_auth_enabled(&self) -> bool {
        self.token_auth
    }

    /// Whether a request carrying these credentials may proceed.
    pub fn check(&self, apisecret: Option<&str>, token: Option<&str>) -> bool {
        if self.api_secret.is_none() && !self.token_auth {
            return true;
        }
        let secret_ok = match (&self.api_secret, apisecret) {
            (Some(expected), Some(given)) => const_eq(expected, given),
            _ => false,
        };
        let token_ok = self.token_auth && token.is_some_and(|t| self.token_valid(t));
        secret_ok || token_ok
    }

    /// Whether `token` may attach to `plugin` (checked only when token auth is on and the
    /// request carries a token, as Janus does).
    pub fn token_allows_plugin(&self, token: &str, plugin: &str) -> bool {
        if !self.token_auth {
            return true;
        }
        if let Some(secret) = &self.signing_secret {
            return match verify_signed(secret, token, now_unix()) {
                Some(plugins) => plugins.iter().any(|p| p == plugin),
                None => false,
            };
        }
        match self.stored.lock().get(token) {
            Some(allowed) => allowed.is_empty() || allowed.contains(plugin),
            None => false,
        }
    }

    fn token_valid(&self, token: &str) -> bool {
        match &self.signing_secret {
            Some(secret) => verify_signed(secret, token, now_unix()).is_some(),
            None => self.stored.lock().contains_key(token),
        }
    }

    /// Adds a stored token; `plugins` empty = every plugin.
    pub fn add_token(&self, token: &str, plugins: &[&str]) {
        self.stored.lock().insert(
            token.to_string(),
            plugins.iter().map(|p| p.to_string()).collect(),
        );
    }

    pub fn remove_token(&self, token: &str) -> bool {
        self.stored.lock().remove(token).is_some()
    }
}

fn const_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks a signed token at time `now`; returns its plugin list when valid.
pub fn verify_signed(secret: &str, token: &str, now: u64) -> Option<Vec<String>> {
    let (text, signature) = token.split_once(':')?;
    if signature.contains(':') {
        return None;
    }
    let mut fields = text.split(',');
    let expiry: u64 = fields.next()?.parse().ok()?;
    if now > expiry || fields.next()? != REALM {
        return None;
    }
    let expected = sign(secret, text)?;
    if !const_eq(&expected, signature) {
        return None;
    }
    Some(fields.map(str::to_string).collect())
}

/// `base64(HMAC-SHA1(secret, text))`, the signature part of a signed token.
pub fn sign(secret: &str, text: &str) -> Option<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(text.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, text: &str) -> String {
        format!("{text}:{}", sign(secret, text).expect("hmac"))
    }

    #[test]
    fn nothing_configured_lets_everything_through() {
        let a = Auth::new(None, false, None);
        assert!(a.check(None, None));
    }

    #[test]
    fn api_secret() {
        let a = Auth::new(Some("s3cret".into()), false, None);
        assert!(a.check(Some("s3cret"), None));
        assert!(!a.check(Some("s3cre"), None));
        assert!(!a.check(None, Some("s3cret")));
    }

    #[test]
    fn stored_tokens_with_plugin_acl() {
        let a = Auth::new(None, true, None);
        assert!(!a.check(None, Some("abc")));
        a.add_token("abc", &["janus.plugin.echotest"]);
        a.add_token("all", &[]);
        assert!(a.check(None, Some("abc")));
        assert!(a.token_allows_plugin("abc", "janus.plugin.echotest"));
        assert!(!a.token_allows_plugin("abc", "janus.plugin.videoroom"));
        assert!(a.token_allows_plugin("all", "janus.plugin.videoroom"));
        assert!(a.remove_token("abc"));
        assert!(!a.check(None, Some("abc")));
    }

    #[test]
    fn secret_or_token_is_enough() {
        let a = Auth::new(Some("s".into()), true, None);
        a.add_token("t", &[]);
        assert!(a.check(Some("s"), None));
        assert!(a.check(None, Some("t")));
        assert!(!a.check(Some("x"), Some("y")));
    }

    #[test]
    fn signed_tokens() {
        let secret = "janus";
        let token = signed(
            secret,
            "2000000000,janus,janus.plugin.echotest,janus.plugin.x",
        );
        assert_eq!(
            verify_signed(secret, &token, 1_700_000_000),
            Some(vec![
                "janus.plugin.echotest".into(),
                "janus.plugin.x".into()
            ])
        );
        // Expired, wrong realm, wrong signature, wrong secret, malformed.
        assert_eq!(verify_signed(secret, &token, 2_000_000_001), None);
        assert_eq!(
            verify_signed(secret, &signed(secret, "2000000000,other,p"), 1),
            None
        );
        assert_eq!(verify_signed("other", &token, 1), None);
        assert_eq!(verify_signed(secret, "2000000000,janus,p:AAAA", 1), None);
        assert_eq!(verify_signed(secret, "garbage", 1), None);
        assert_eq!(verify_signed(secret, "x,janus:abc", 1), None);

        let a = Auth::new(None, true, Some(secret.into()));
        assert!(a.check(None, Some(&token)));
        assert!(a.token_allows_plugin(&token, "janus.plugin.echotest"));
        assert!(!a.token_allows_plugin(&token, "janus.plugin.videoroom"));
    }
}
