//! File names as a client declares them, made safe to keep and to send back in a
//! `Content-Disposition` header (RFC 6266 with RFC 8187's `filename*`).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest kept name, in characters (the tail is cut, the extension kept when it is short).
pub const MAX_NAME_CHARS: usize = 200;

/// RFC 8187 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The name to keep: the last path segment (either slash), without control characters,
/// trimmed, at most [`MAX_NAME_CHARS`]; `file` when nothing is left.
pub fn sanitize(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    let cut: String = clean.chars().take(MAX_NAME_CHARS).collect();
    if cut.is_empty() {
        "file".to_owned()
    } else {
        cut
    }
}

/// Bidirectional overrides can make `gpj.exe` display as `exe.jpg`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `Content-Disposition` for a download of a sanitised name (RFC 6266): `inline` for media a
/// browser shows safely (images but SVG, which can carry script; audio; video), `attachment` for
/// everything else; a printable-ASCII `filename` fallback (`"`, `\` and other characters become
/// `_`) and the exact name as `filename*` in UTF-8. Both backends send this one.
pub fn content_disposition(name: &str, content_type: &str) -> String {
    let ct = content_type.to_ascii_lowercase();
    let major = ct.split('/').next().unwrap_or_default();
    let inline = matches!(major, "image" | "audio" | "video") && !ct.starts_with("image/svg");
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR_ESCAPES);
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_controls_go() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("C:\\Users\\me\\photo.png"), "photo.png");
        assert_eq!(sanitize("a\u{0}b\r\nc.txt"), "abc.txt");
        assert_eq!(sanitize("x\u{202e}gpj.exe"), "xgpj.exe");
        assert_eq!(sanitize("   "), "file");
        assert_eq!(sanitize("dir/"), "file");
        assert_eq!(sanitize(".hidden"), "hidden");
        assert_eq!(sanitize(&"é".repeat(300)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn disposition_follows_rfc_6266() {
        assert_eq!(
            content_disposition("a b.png", "image/png"),
            "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"
        );
        assert_eq!(
            content_disposition("照片\"1\".jpg", "image/jpeg"),
            "inline; filename=\"___1_.jpg\"; filename*=UTF-8''%E7%85%A7%E7%89%87%221%22.jpg"
        );
        // Only media a browser shows safely are inline: never SVG (script), text or PDF.
        for ct in [
            "image/svg+xml",
            "text/plain",
            "application/pdf",
            "text/html",
        ] {
            assert!(
                content_disposition("a", ct).starts_with("attachment;"),
                "{ct}"
            );
        }
        for ct in ["image/png", "audio/mpeg", "video/mp4"] {
            assert!(content_disposition("a", ct).starts_with("inline;"), "{ct}");
        }
        // Every value is a valid header value.
        for n in ["a;b", "x\u{7f}", "tab\there"] {
            let value = content_disposition(&sanitize(n), "text/plain");
            assert!(http::HeaderValue::from_str(&value).is_ok());
        }
    }
}
