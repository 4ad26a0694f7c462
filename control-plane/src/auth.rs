//! Bearer tokens with roles, compared in constant time.

use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything: publish, move aliases, roll back, read.
    Admin,
    /// Read functions, versions and revisions.
    Read,
    /// What nodes need: follow revisions and fetch blobs.
    Node,
}

/// A configured token.
#[derive(Debug, Clone)]
pub struct Token {
    /// A name for logs (never the secret).
    pub name: String,
    /// The secret.
    pub secret: String,
    /// Its role.
    pub role: Role,
}

impl Role {
    /// The role as configured, e.g. `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Read => "read",
            Role::Node => "node",
        }
    }
}

/// What a request may do, by the token it presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No `Authorization: Bearer` header: 401.
    Anonymous,
    /// A token no configured one matches: 401.
    Unknown,
    /// A known token with this role.
    Granted(Role),
}

/// Looks the `authorization: Bearer <token>` value up; every configured token is compared, in
/// constant time, so timing does not tell which prefix matched.
pub fn check(tokens: &[Token], authorization: Option<&str>) -> Access {
    let Some(authorization) = authorization else {
        return Access::Anonymous;
    };
    let Some(presented) = authorization.strip_prefix("Bearer ") else {
        return Access::Unknown;
    };
    let mut found = None;
    for token in tokens {
        let equal: bool = token.secret.as_bytes().ct_eq(presented.as_bytes()).into();
        if equal {
            found = Some(token.role);
        }
    }
    found.map_or(Access::Unknown, Access::Granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_their_role() {
        let tokens = vec![
            Token {
                name: "ci".into(),
                secret: "s3cret".into(),
                role: Role::Admin,
            },
            Token {
                name: "dash".into(),
                secret: "r3ad".into(),
                role: Role::Read,
            },
        ];
        assert_eq!(
            check(&tokens, Some("Bearer s3cret")),
            Access::Granted(Role::Admin)
        );
        assert_eq!(
            check(&tokens, Some("Bearer r3ad")),
            Access::Granted(Role::Read)
        );
        assert_eq!(check(&tokens, Some("Bearer s3cre")), Access::Unknown);
        assert_eq!(check(&tokens, Some("s3cret")), Access::Unknown);
        assert_eq!(check(&tokens, None), Access::Anonymous);
        // A token is exactly its bytes: no whitespace is forgiven on either side.
        assert_eq!(check(&tokens, Some("Bearer s3cret ")), Access::Unknown);
        assert_eq!(check(&tokens, Some("Bearer s3cret\t")), Access::Unknown);
        assert_eq!(check(&tokens, Some("Bearer  s3cret")), Access::Unknown);
    }
}
