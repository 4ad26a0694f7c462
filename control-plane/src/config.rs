//! The control plane's config file (TOML), validated with errors naming the file and key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{Role, Token};

/// Components larger than this are refused with 413 (Lambda's package limit).
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 50 * 1024 * 1024;
/// Where the API listens by default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// A validated control-plane config.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// The API address.
    pub listen: SocketAddr,
    /// Where the revision log and blobs live.
    pub data_dir: PathBuf,
    /// The largest component accepted.
    pub max_component_bytes: usize,
    /// Who may do what.
    pub tokens: Vec<Token>,
    /// The key that signs every published digest, if signing is on.
    pub signing_key: Option<ed25519_dalek::SigningKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: String,
    max_component_bytes: Option<usize>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    signing_key_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    token: String,
    role: Role,
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    file: PathBuf,
    problem: String,
}

impl ControlConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let error = |problem: String| ConfigError {
            file: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| error(e.to_string().trim_end().to_owned()))?;
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text
            .parse()
            .map_err(|_| error(format!("listen: `{listen_text}` is not an IP:port address")))?;
        let data_dir = Path::new(&raw.data_dir);
        let data_dir = if data_dir.is_absolute() {
            data_dir.to_owned()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(data_dir)
        };
        let mut tokens = Vec::new();
        for (index, token) in raw.tokens.into_iter().enumerate() {
            if token.token.len() < 16 {
                return Err(error(format!(
                    "tokens[{index}].token: at least 16 characters"
                )));
            }
            tokens.push(Token {
                name: token.name,
                secret: token.token,
                role: token.role,
            });
        }
        if !tokens.iter().any(|t| t.role == Role::Admin) {
            return Err(error(
                "tokens: at least one token with role \"admin\" is required".into(),
            ));
        }
        let signing_key = match raw.signing_key_file {
            None => None,
            Some(file) => {
                let key_path = path.parent().unwrap_or(Path::new(".")).join(&file);
                let text = std::fs::read_to_string(&key_path)
                    .map_err(|e| error(format!("signing_key_file {}: {e}", key_path.display())))?;
                let seed: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| {
                        error(format!(
                            "signing_key_file {}: expected 64 hex characters (an ed25519 seed)",
                            key_path.display()
                        ))
                    })?;
                Some(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        Ok(Self {
            signing_key,
            listen,
            data_dir,
            max_component_bytes: raw
                .max_component_bytes
                .unwrap_or(DEFAULT_MAX_COMPONENT_BYTES),
            tokens,
        })
    }
}
