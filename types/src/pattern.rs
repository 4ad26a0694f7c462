//! Path patterns of cache behaviors and domain patterns of distributions.

/// A CloudFront-style path pattern: `*` matches any run of characters (`/` included), `?`
/// exactly one; everything else matches itself, case-sensitively. `/images/*.jpg`, `/api/*`, `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern(String);

impl PathPattern {
    /// Wraps a pattern; the config validator checks that it starts with `/` or is `*`.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` (without the query) matches.
    pub fn matches(&self, path: &str) -> bool {
        glob(self.0.as_bytes(), path.as_bytes())
    }
}

/// Iterative glob with single-star backtracking: linear in practice, no recursion.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A domain a distribution answers for: exact (`www.example.com`), a wildcard for one or more
/// leading labels (`*.example.com`), or `*` for any host. Compared case-insensitively, port
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DomainPattern {
    /// Any host.
    Any,
    /// Exactly this host (lower case).
    Exact(String),
    /// Any host ending in this suffix (lower case, with its leading dot).
    Suffix(String),
}

impl DomainPattern {
    /// Parses a domain from config; `None` if it is empty or has a `*` anywhere but in front.
    pub fn parse(domain: &str) -> Option<Self> {
        let domain = domain.trim().to_ascii_lowercase();
        if domain == "*" {
            return Some(Self::Any);
        }
        if let Some(suffix) = domain.strip_prefix('*') {
            let valid = suffix.starts_with('.') && suffix.len() > 1 && !suffix.contains('*');
            return valid.then(|| Self::Suffix(suffix.to_owned()));
        }
        (!domain.is_empty() && !domain.contains('*')).then_some(Self::Exact(domain))
    }

    /// Whether `host` (a Host header or :authority, maybe with a port) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = strip_port(host);
        match self {
            Self::Any => true,
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

impl DomainPattern {
    /// How specific the pattern is: when several distributions match a host, the most
    /// specific wins: an exact name, then the longest `*.suffix`, then `*`.
    pub fn precedence(&self) -> (u8, usize) {
        match self {
            Self::Exact(_) => (2, 0),
            Self::Suffix(suffix) => (1, suffix.len()),
            Self::Any => (0, 0),
        }
    }
}

impl std::fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(name) => f.write_str(name),
            Self::Suffix(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// Two distributions that claim the same domain: neither could be told which requests are its.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConflict {
    /// The distribution seen first.
    pub first: String,
    /// The other one.
    pub second: String,
    /// The domain both claim.
    pub domain: String,
}

impl std::fmt::Display for DomainConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "distributions `{}` and `{}` both claim the domain `{}`",
            self.first, self.second, self.domain
        )
    }
}

/// The first domain two of `distributions` (id, domains) both claim, if any. Patterns of
/// different precedence (`www.example.com`, `*.example.com`, `*`) do not conflict.
pub fn domain_conflict<'a>(
    distributions: impl IntoIterator<Item = (&'a str, &'a [DomainPattern])>,
) -> Option<DomainConflict> {
    let mut claimed: std::collections::HashMap<&DomainPattern, &str> =
        std::collections::HashMap::new();
    for (id, domains) in distributions {
        for domain in domains {
            match claimed.get(domain) {
                Some(&first) if first != id => {
                    return Some(DomainConflict {
                        first: first.to_owned(),
                        second: id.to_owned(),
                        domain: domain.to_string(),
                    });
                }
                _ => {
                    claimed.insert(domain, id);
                }
            }
        }
    }
    None
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_match_like_cloudfront() {
        let cases = [
            ("*", "/anything/at/all", true),
            ("/api/*", "/api/v1/users", true),
            ("/api/*", "/api", false),
            ("/images/*.jpg", "/images/a/b.jpg", true),
            ("/images/*.jpg", "/images/a/b.png", false),
            ("/v?/x", "/v1/x", true),
            ("/v?/x", "/v10/x", false),
            ("/exact", "/exact", true),
            ("/exact", "/Exact", false),
            ("/a*b*c", "/aXXbYYc", true),
            ("/a*b*c", "/aXXbYY", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                PathPattern::new(pattern).matches(path),
                expected,
                "{pattern} ~ {path}"
            );
        }
    }

    #[test]
    fn domains_match_exact_wildcard_and_any() {
        let exact = DomainPattern::parse("WWW.example.com").unwrap();
        assert!(exact.matches("www.example.com:8443"));
        assert!(!exact.matches("example.com"));
        let wildcard = DomainPattern::parse("*.example.com").unwrap();
        assert!(wildcard.matches("a.b.example.com"));
        assert!(!wildcard.matches("example.com"));
        assert!(!wildcard.matches("badexample.com"));
        assert!(DomainPattern::parse("*").unwrap().matches("[::1]:80"));
        assert_eq!(DomainPattern::parse("a.*.com"), None);
        assert_eq!(DomainPattern::parse(""), None);
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
    }

    #[test]
    fn the_same_domain_in_two_distributions_conflicts_and_precedence_does_not() {
        let parse = |d: &[&str]| -> Vec<DomainPattern> {
            d.iter().filter_map(|d| DomainPattern::parse(d)).collect()
        };
        let (a, b) = (parse(&["*", "www.example.com"]), parse(&["*"]));
        let conflict = domain_conflict([("a", &a[..]), ("b", &b[..])]).unwrap();
        assert_eq!(
            (conflict.first.as_str(), conflict.second.as_str()),
            ("a", "b")
        );
        assert_eq!(conflict.domain, "*");
        let (c, d) = (parse(&["WWW.example.com"]), parse(&["www.example.com"]));
        assert!(domain_conflict([("c", &c[..]), ("d", &d[..])]).is_some());
        let (e, f, g) = (
            parse(&["www.example.com"]),
            parse(&["*.example.com"]),
            parse(&["*"]),
        );
        assert_eq!(
            domain_conflict([("e", &e[..]), ("f", &f[..]), ("g", &g[..])]),
            None
        );
        assert!(
            DomainPattern::parse("a.example.com").unwrap().precedence()
                > DomainPattern::parse("*.a.example.com")
                    .unwrap()
                    .precedence()
        );
        assert!(
            DomainPattern::parse("*.a.example.com")
                .unwrap()
                .precedence()
                > DomainPattern::parse("*.example.com").unwrap().precedence()
        );
    }
}
