//! The one normalisation of a request's path, applied at intake. Behaviors are matched, cache
//! keys built and origins asked with the path it yields, so a path trick that reaches the
//! origin as `/admin/x` is also matched as `/admin/x`:
//!
//! 1. percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded and the hex
//!    digits of every other escape upper-cased (RFC 3986 §6.2.2.1-2): `/%61dmin` → `/admin`;
//! 2. an encoded `/` (`%2F`) or `\` (`%5C`), an encoded NUL, a raw `\` and a malformed escape
//!    are refused (400): an origin would read them as separators or cut the path there;
//! 3. runs of `/` are collapsed into one: `//admin` → `/admin`;
//! 4. dot segments are removed (RFC 3986 §5.2.4, also those spelled `%2e`):
//!    `/public/../admin` → `/admin`, and nothing climbs above `/`.
//!
//! The query is left as the viewer sent it.

use http::uri::PathAndQuery;

/// Why a request target could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unnormalisable(pub(crate) &'static str);

/// The normalised form of `target` (path and query).
pub(crate) fn normalise(target: &PathAndQuery) -> Result<PathAndQuery, Unnormalisable> {
    let path = target.path();
    if is_normal(path) {
        return Ok(target.clone());
    }
    let decoded = decode_unreserved(path)?;
    let merged = collapse_slashes(&decoded);
    let mut normal = remove_dot_segments(&merged);
    if let Some(query) = target.query() {
        normal.push('?');
        normal.push_str(query);
    }
    PathAndQuery::try_from(normal).map_err(|_| Unnormalisable("not a valid request target"))
}

/// The common case, checked without allocating: no escapes, no `\`, no `//`, no dot segment.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !bytes.iter().any(|&b| b == b'%' || b == b'\\')
        && !path.contains("//")
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// Step 1 and 2.
fn decode_unreserved(path: &str) -> Result<String, Unnormalisable> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(Unnormalisable("a backslash in the path")),
            b'%' => {
                let (Some(high), Some(low)) = (
                    bytes.get(i + 1).and_then(|&b| hex(b)),
                    bytes.get(i + 2).and_then(|&b| hex(b)),
                ) else {
                    return Err(Unnormalisable("a malformed percent-escape in the path"));
                };
                let byte = high << 4 | low;
                match byte {
                    b'/' | b'\\' => {
                        return Err(Unnormalisable("an encoded slash or backslash in the path"));
                    }
                    0 => return Err(Unnormalisable("an encoded NUL in the path")),
                    b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                        out.push(char::from(b));
                    }
                    b => {
                        out.push('%');
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
                    }
                }
                i += 3;
            }
            _ => {
                // Multi-byte text is copied whole: `path` is a valid str.
                let end = (i + 1..=bytes.len())
                    .find(|&end| path.is_char_boundary(end))
                    .unwrap_or(bytes.len());
                out.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// Step 3; also makes the path absolute.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            if out.is_empty() && c != '/' {
                out.push('/');
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Step 4 on an absolute path without empty segments: RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut ends_in_slash = false;
    for segment in path.split('/').skip(1) {
        ends_in_slash = matches!(segment, "" | "." | "..");
        match segment {
            "." | "" => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if ends_in_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(target: &str) -> Result<String, Unnormalisable> {
        let target = PathAndQuery::try_from(target).map_err(|_| Unnormalisable("test input"))?;
        normalise(&target).map(|t| t.as_str().to_owned())
    }

    #[test]
    fn every_spelling_of_a_path_normalises_to_one() {
        for (raw, normal) in [
            ("/admin/secret.txt", "/admin/secret.txt"),
            ("/public/../admin/secret.txt", "/admin/secret.txt"),
            ("/public/%2e%2e/admin/secret.txt", "/admin/secret.txt"),
            ("/public/%2E%2e/admin/secret.txt", "/admin/secret.txt"),
            ("//admin/secret.txt", "/admin/secret.txt"),
            ("/%61dmin/secret.txt", "/admin/secret.txt"),
            ("/./admin/./secret.txt", "/admin/secret.txt"),
            ("/../../admin/secret.txt", "/admin/secret.txt"),
            ("/admin/", "/admin/"),
            ("/admin/sub/..", "/admin/"),
            ("/a/b/.", "/a/b/"),
            ("/", "/"),
            ("/..", "/"),
            ("/a%3fb?x=/../y", "/a%3Fb?x=/../y"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a..b/c.", "/a..b/c."),
        ] {
            assert_eq!(norm(raw), Ok(normal.to_owned()), "{raw}");
        }
    }

    #[test]
    fn what_cannot_be_normalised_is_refused() {
        for raw in [
            "/admin%2fsecret.txt",
            "/admin%2Fsecret.txt",
            "/admin%5csecret.txt",
            "/a%00b",
            "/a%zz",
            "/a%4",
        ] {
            assert!(norm(raw).is_err(), "{raw}");
        }
    }
}
