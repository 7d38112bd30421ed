//! Signed tokens: open and click tracking, and the signatures of entries into flows with a
//! secret (HMAC-SHA256). Pure computation on a secret: the database work around them is
//! `service::tracking`'s.
//!
//! Every HTML email gets a 1×1 pixel (`/t/o/{token}`) and its links are rewritten to
//! `/t/c/{token}`, which records the click and redirects. A token is the message id and the
//! target URL, signed with HMAC-SHA256 under the deployment's secret; a forged or altered token
//! does not verify, gets 404, and records nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Open { message: String },
    Click { message: String, url: String },
}

/// Signs and verifies tracking tokens and instruments HTML.
#[derive(Clone)]
pub struct Tracker {
    secret: Vec<u8>,
    /// Public base URL of this deployment, without a trailing slash.
    base: String,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    pub fn new(secret: &[u8], base: &str) -> Self {
        Tracker {
            secret: secret.to_vec(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The public base URL of tracking links (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    fn token(&self, payload: &str) -> String {
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(tag))
    }

    pub fn open_url(&self, message: &str) -> String {
        format!("{}/t/o/{}", self.base, self.token(&format!("o\u{1f}{message}")))
    }

    pub fn click_url(&self, message: &str, url: &str) -> String {
        format!(
            "{}/t/c/{}",
            self.base,
            self.token(&format!("c\u{1f}{message}\u{1f}{url}"))
        )
    }

    /// The hit a token stands for, if its signature holds.
    pub fn verify(&self, token: &str) -> Option<Hit> {
        let (payload, tag) = token.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.split('\u{1f}');
        match (parts.next()?, parts.next()?, parts.next(), parts.next()) {
            ("o", message, None, None) => Some(Hit::Open {
                message: message.to_string(),
            }),
            ("c", message, Some(url), None) => Some(Hit::Click {
                message: message.to_string(),
                url: url.to_string(),
            }),
            _ => None,
        }
    }

    /// Listed messages (`outbox::messages`) as they go out: emails that did not fail get the
    /// pixel and links delivery adds, which are the same for a message every time.
    pub fn instrument_listed(&self, messages: &mut [serde_json::Value]) {
        for m in messages {
            if m["channel"] == "email"
                && m["status"] != "failed"
                && let (Some(id), Some(html)) = (m["id"].as_str(), m["content"]["html"].as_str())
            {
                let tracked = self.instrument(id, html);
                m["content"]["html"] = serde_json::Value::String(tracked);
            }
        }
    }

    /// Rewrites absolute `http(s)` links to signed click redirects, neutralises links that are
    /// neither those nor `mailto:`, `tel:` or `#fragment` (they become `#`), and adds the pixel.
    pub fn instrument(&self, message: &str, html: &str) -> String {
        let mut out = String::with_capacity(html.len() + 256);
        let lower = html.to_ascii_lowercase();
        let mut at = 0;
        while let Some(found) = lower[at..].find("href=") {
            let start = at + found + "href=".len();
            let quote = html[start..].chars().next();
            let (Some(q @ ('"' | '\'')), true) = (quote, start < html.len()) else {
                out.push_str(&html[at..start]);
                at = start;
                continue;
            };
            let value_start = start + 1;
            let Some(len) = html[value_start..].find(q) else { break };
            let raw = &html[value_start..value_start + len];
            let url = html_unescape(raw);
            out.push_str(&html[at..value_start]);
            match link(&url) {
                Link::Tracked(url) => out.push_str(&self.click_url(message, &url).replace('&', "&amp;")),
                Link::Kept => out.push_str(raw),
                Link::Dropped => out.push('#'),
            }
            at = value_start + len;
        }
        out.push_str(&html[at..]);
        let pixel = format!(
            r#"<img src="{}" width="1" height="1" alt="" style="display:none">"#,
            self.open_url(message)
        );
        match out.to_ascii_lowercase().rfind("</body>") {
            Some(i) => out.insert_str(i, &pixel),
            None => out.push_str(&pixel),
        }
        out
    }
}

/// What becomes of a link (an `href` value, character references decoded) in an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// An absolute `http(s)` URL with a host: tracked, and redirected to as given here (non-ASCII
    /// and spaces percent-encoded, so it fits a `Location` header).
    Tracked(String),
    /// `mailto:`, `tel:` or a `#fragment`: left as written.
    Kept,
    /// Anything else (`javascript:`, `data:`, `//host`, relative paths, control characters,
    /// which could split a header): replaced by `#`, neither linked nor tracked.
    Dropped,
}

/// Classifies a link of an email (see [`Link`]).
pub fn link(url: &str) -> Link {
    let url = url.trim_matches(|c: char| c.is_ascii_whitespace());
    if url.bytes().any(|b| b.is_ascii_control()) {
        return Link::Dropped;
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with('#') || lower.starts_with("mailto:") || lower.starts_with("tel:") {
        return Link::Kept;
    }
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest.and_then(|r| r.chars().next()) {
        Some(c) if !matches!(c, '/' | '\\' | '?' | '#' | '@' | ':') => Link::Tracked(redirect_target(url)),
        _ => Link::Dropped,
    }
}

/// `url` with non-ASCII bytes, spaces and the characters a `Location` header or an HTML
/// attribute must not carry raw percent-encoded.
fn redirect_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() && !matches!(byte, b'"' | b'<' | b'>' | b'\\' | b'`') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes the character references a template engine writes into attribute values.
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16).ok().and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random secret (32 bytes, base64).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    B64.encode(bytes)
}

/// How far an entry's signature time may be from the server's clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Why a signed entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the X-Cairn-Signature header is missing: sign entries as t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<flow id>.<body>\">"
    )]
    Missing,
    #[error("the X-Cairn-Signature header is malformed: expected t=<unix seconds>,v1=<64 hex digits>")]
    Malformed,
    #[error("the X-Cairn-Signature time t={t} is more than 5 minutes from the server's clock")]
    Stale { t: i64 },
    #[error("the X-Cairn-Signature does not match this body and flow under the flow's secret")]
    Mismatch,
}

/// A signature that verified: its time and its hex HMAC (the key of its one use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySignature {
    pub t: i64,
    pub hex: String,
}

fn entry_mac(secret: &str, t: i64, flow: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{flow}.").as_bytes());
    mac.update(body);
    mac
}

/// The `X-Cairn-Signature` value of an entry into `flow` signed at `t` (Unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<flow>.<body>")>`.
pub fn sign_entry(secret: &str, t: i64, flow: i64, body: &[u8]) -> String {
    let tag = entry_mac(secret, t, flow, body).finalize().into_bytes();
    format!(
        "t={t},v1={}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Checks an entry's signature header: its form, its time against `now` (Unix seconds, within
/// [`SIGNATURE_TOLERANCE_SECS`]) and its HMAC over the time, the flow and the body, compared in
/// constant time. Whether it was used before is the caller's (durable) business.
pub fn verify_entry(
    secret: &str,
    (flow, body): (i64, &[u8]),
    header: Option<&str>,
    now: i64,
) -> Result<EntrySignature, SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    let (Some(t), Some(hex)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    // `abs_diff`: `t` is the sender's, any i64; `now - t` could overflow.
    if now.abs_diff(t) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale { t });
    }
    let tag: Vec<u8> = (0..32)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    entry_mac(secret, t, flow, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(EntrySignature { t, hex })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker::new(b"test secret", "https://cairn.example/")
    }

    #[test]
    fn tokens_verify_and_tampering_does_not() {
        let t = tracker();
        let url = t.click_url("7.hello", "https://shop.example/cart?id=1&x=2");
        let token = url.rsplit('/').next().unwrap();
        assert_eq!(
            t.verify(token),
            Some(Hit::Click {
                message: "7.hello".into(),
                url: "https://shop.example/cart?id=1&x=2".into()
            })
        );
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = B64.encode("c\u{1f}7.hello\u{1f}https://evil.example");
        assert_eq!(t.verify(&format!("{forged}.{tag}")), None, "altered payload");
        assert_eq!(
            t.verify(&format!("{payload}.{}", B64.encode([0u8; 32]))),
            None,
            "forged tag"
        );
        assert_eq!(
            Tracker::new(b"other", "https://x").verify(token),
            None,
            "another secret"
        );
        assert_eq!(t.verify("garbage"), None);
    }

    #[test]
    fn html_links_are_rewritten_and_a_pixel_added() {
        let t = tracker();
        let html = "<html><body><p><a href=\"https:&#x2f;&#x2f;shop.example&#x2f;cart?a=1&amp;b=2\">cart</a> \
                    <a href='mailto:x@y'>mail</a> <a HREF=\"#top\">top</a></p></body></html>";
        let out = t.instrument("7.hello", html);
        assert!(out.contains("href=\"https://cairn.example/t/c/"), "{out}");
        assert!(
            out.contains("href='mailto:x@y'") && out.contains("HREF=\"#top\""),
            "{out}"
        );
        assert!(
            out.contains("<img src=\"https://cairn.example/t/o/") && out.ends_with("</body></html>"),
            "{out}"
        );
        let token = out.split("/t/c/").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(
            t.verify(token),
            Some(Hit::Click {
                message: "7.hello".into(),
                url: "https://shop.example/cart?a=1&b=2".into()
            })
        );
    }

    #[test]
    fn entry_signatures_verify_only_for_the_same_time_flow_body_and_secret() {
        let sig = sign_entry("s3cret", 1000, 7, b"{\"a\":1}");
        let ok = |secret: &str, flow: i64, body: &[u8], header: &str, now: i64| {
            verify_entry(secret, (flow, body), Some(header), now)
        };
        assert_eq!(ok("s3cret", 7, b"{\"a\":1}", &sig, 1200).map(|s| s.t), Ok(1000));
        assert_eq!(ok("s3cret", 7, b"{\"a\":2}", &sig, 1000), Err(SignatureError::Mismatch));
        assert_eq!(ok("s3cret", 8, b"{\"a\":1}", &sig, 1000), Err(SignatureError::Mismatch));
        assert_eq!(ok("other", 7, b"{\"a\":1}", &sig, 1000), Err(SignatureError::Mismatch));
        assert_eq!(
            ok("s3cret", 7, b"{\"a\":1}", &sig, 1301),
            Err(SignatureError::Stale { t: 1000 })
        );
        assert_eq!(
            ok("s3cret", 7, b"{}", "sha256=00", 1000),
            Err(SignatureError::Malformed)
        );
        for t in [i64::MIN, i64::MAX] {
            let extreme = sign_entry("s3cret", t, 7, b"{}");
            assert_eq!(
                ok("s3cret", 7, b"{}", &extreme, 1000),
                Err(SignatureError::Stale { t }),
                "a time at the end of the range is stale, not an overflow"
            );
        }
        assert_eq!(
            verify_entry("s3cret", (7, b"{}"), None, 1000),
            Err(SignatureError::Missing)
        );
        // What README's openssl and Python examples compute.
        assert_eq!(
            sign_entry("s3cret", 1000, 7, b"{\"a\": 1}"),
            "t=1000,v1=94f2d891700bd9045c4681a31d73fd3ebc665f4bdf2930e8e778b6406eadd57a"
        );
    }

    #[test]
    fn only_absolute_http_links_without_control_characters_are_tracked() {
        assert_eq!(
            link("https://shop.example/ä b"),
            Link::Tracked("https://shop.example/%C3%A4%20b".into())
        );
        assert_eq!(
            link(" HTTP://shop.example "),
            Link::Tracked("HTTP://shop.example".into())
        );
        for unsafe_link in [
            "javascript:alert(1)",
            "//evil.example",
            "data:text/html,x",
            "https://x.example/\r\nSet-Cookie: a",
            "https://",
            "/relative",
        ] {
            assert_eq!(link(unsafe_link), Link::Dropped, "{unsafe_link}");
        }
        for kept in ["mailto:ann@example.com", "tel:+3725551234", "#top"] {
            assert_eq!(link(kept), Link::Kept, "{kept}");
        }
    }
}
