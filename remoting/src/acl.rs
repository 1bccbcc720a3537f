//! The plain-ACL request signature (`AclClientRPCHook` / `AclUtils.combineRequestContent`):
//! Base64(HMAC-SHA1(secretKey, values of every ext field but `Signature`, in key order,
//! then the body bytes)).
//!
//! Kept here rather than in the broker because both sides need it: the broker checks it,
//! `rmqd admin` signs with it.

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::command::RemotingCommand;
use crate::ext_fields::ExtFields;

pub const ACCESS_KEY: &str = "AccessKey";
pub const SIGNATURE: &str = "Signature";
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// `MixAll.UNIQUE_MSG_QUERY_FLAG`: the broker leaves it out of the signed content.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Java sorts the fields in a `TreeMap<String, String>`: UTF-16 code unit order, which
/// differs from Rust's byte order only for characters above U+FFFF.
fn java_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The MAC over `ext` (without `Signature` and the keys in `skip`) and `body`.
fn mac(ext: Option<&ExtFields>, body: &[&[u8]], secret: &str, skip: &[&str]) -> HmacSha1 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha1 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    if let Some(ext) = ext {
        let mut fields: Vec<(&str, &str)> = ext
            .iter()
            .filter(|(k, _)| *k != SIGNATURE && !skip.contains(k))
            .collect();
        fields.sort_by(|a, b| java_order(a.0, b.0));
        for (_, v) in fields {
            mac.update(v.as_bytes());
        }
    }
    for part in body {
        mac.update(part);
    }
    mac
}

/// The `Signature` value for this field set and body.
pub fn signature(ext: Option<&ExtFields>, body: &[&[u8]], secret: &str, skip: &[&str]) -> String {
    let tag = mac(ext, body, secret, skip).finalize().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// Whether `given` is the signature of this field set and body (constant-time compare).
pub fn verify(
    ext: Option<&ExtFields>,
    body: &[&[u8]],
    secret: &str,
    skip: &[&str],
    given: &str,
) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(given) else {
        return false;
    };
    mac(ext, body, secret, skip).verify_slice(&raw).is_ok()
}

fn body_parts(cmd: &RemotingCommand) -> Vec<&[u8]> {
    std::iter::once(cmd.body.as_ref())
        .chain(cmd.body_parts.iter().map(|b| b.as_ref()))
        .collect()
}

/// Signs a request as `AclClientRPCHook.doBeforeRequest` does: adds `AccessKey`, then
/// `Signature` over every field already set and the body.
pub fn sign_request(cmd: &mut RemotingCommand, access_key: &str, secret_key: &str) {
    cmd.ext_mut().insert(ACCESS_KEY, access_key);
    let sig = signature(cmd.ext_fields.as_ref(), &body_parts(cmd), secret_key, &[]);
    cmd.ext_mut().insert(SIGNATURE, sig);
}

/// Checks a received request's `Signature` against `secret_key`, as
/// `PlainPermissionManager.validate` does. The broker leaves `_UNIQUE_KEY_QUERY` out of
/// the content, but the Java client adds that field before signing, so a query signed by
/// a Java tool only verifies with it in: both forms are accepted (the flag selects exact
/// or key lookup of the same topic, which the signer may do either way).
pub fn verify_request(cmd: &RemotingCommand, secret_key: &str) -> bool {
    let Some(given) = cmd.ext(SIGNATURE) else {
        return false;
    };
    let body = body_parts(cmd);
    let ext = cmd.ext_fields.as_ref();
    verify(ext, &body, secret_key, &[UNIQUE_KEY_QUERY], given)
        || (cmd.ext(UNIQUE_KEY_QUERY).is_some() && verify(ext, &body, secret_key, &[], given))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Values from a frame the Java 4.9.8 tools sent (GET_ROUTEINFO_BY_TOPIC signed with
    /// the distribution's tools.yml, rocketmq2 / 12345678).
    #[test]
    fn matches_a_java_signature() {
        let e = ext(&[
            ("Signature", "4BlbessTO/ZN2T6dx1Ds+NgS8Y0="),
            ("topic", "AdmTopic"),
            ("AccessKey", "rocketmq2"),
        ]);
        let mut cmd = RemotingCommand::request(105);
        cmd.ext_fields = Some(e);
        // Sorted: AccessKey, topic.
        assert!(verify_request(&cmd, "12345678"));
        assert!(!verify_request(&cmd, "12345679"));
        let mut again = RemotingCommand::request(105);
        again.ext_mut().insert("topic", "AdmTopic");
        sign_request(&mut again, "rocketmq2", "12345678");
        assert_eq!(again.ext(SIGNATURE), Some("4BlbessTO/ZN2T6dx1Ds+NgS8Y0="));
    }

    #[test]
    fn body_and_every_field_are_covered() {
        let mut cmd = RemotingCommand::request(310);
        cmd.ext_mut().insert("b", "T");
        cmd.body = bytes::Bytes::from_static(b"hello");
        sign_request(&mut cmd, "ak123456", "sk123456");
        assert!(verify_request(&cmd, "sk123456"));
        let mut other = cmd.clone();
        other.body = bytes::Bytes::from_static(b"hellO");
        assert!(!verify_request(&other, "sk123456"));
        let mut other = cmd.clone();
        other.ext_mut().insert("b", "U");
        assert!(!verify_request(&other, "sk123456"));
        let mut other = cmd.clone();
        other.ext_mut().insert("extra", "");
        // An empty value adds no bytes: Java's content is the same, so it still verifies.
        assert!(verify_request(&other, "sk123456"));
        let mut other = cmd.clone();
        other.ext_mut().insert(SIGNATURE, "not base64 !");
        assert!(!verify_request(&other, "sk123456"));
    }

    #[test]
    fn unique_key_flag_is_accepted_in_or_out() {
        let mut cmd = RemotingCommand::request(12);
        cmd.ext_mut().insert("topic", "T");
        cmd.ext_mut().insert(UNIQUE_KEY_QUERY, "false");
        sign_request(&mut cmd, "ak123456", "sk123456");
        assert!(verify_request(&cmd, "sk123456"));
        let mut server_style = RemotingCommand::request(12);
        server_style.ext_mut().insert("topic", "T");
        sign_request(&mut server_style, "ak123456", "sk123456");
        server_style.ext_mut().insert(UNIQUE_KEY_QUERY, "true");
        assert!(verify_request(&server_style, "sk123456"));
    }

    #[test]
    fn java_key_order_is_utf16() {
        // U+FF5E sorts after U+1F600 in bytes but before it in UTF-16 (surrogates D83D..).
        assert_eq!(
            java_order("\u{1F600}", "\u{FF5E}"),
            std::cmp::Ordering::Less
        );
        assert_eq!(java_order("a", "b"), std::cmp::Ordering::Less);
    }

    proptest::proptest! {
        /// Whatever the fields and body, a request signed with a key verifies with that
        /// key only, whatever order the fields arrived in.
        #[test]
        fn sign_then_verify(
            fields in proptest::collection::vec(("[a-zA-Z_]{1,6}", "\\PC{0,8}"), 0..12),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            secret in "[ -~]{1,20}",
        ) {
            let mut cmd = RemotingCommand::request(10);
            for (k, v) in &fields {
                cmd.ext_mut().insert(k.clone(), v.clone());
            }
            cmd.body = body.into();
            sign_request(&mut cmd, "access", &secret);
            proptest::prop_assert!(verify_request(&cmd, &secret));
            let mut reversed = cmd.clone();
            let mut pairs: Vec<(String, String)> = cmd
                .ext_fields
                .iter()
                .flat_map(|e| e.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            pairs.reverse();
            reversed.ext_fields = Some(pairs.into_iter().collect());
            proptest::prop_assert!(verify_request(&reversed, &secret));
            let wrong = format!("{secret}x");
            proptest::prop_assert!(!verify_request(&cmd, &wrong));
        }

        /// Any received Signature value, however malformed, is a plain "no".
        #[test]
        fn arbitrary_signatures_never_panic(given in "\\PC{0,40}") {
            let mut cmd = RemotingCommand::request(10);
            cmd.ext_mut().insert(SIGNATURE, given);
            let _ = verify_request(&cmd, "secret");
        }
    }
}
