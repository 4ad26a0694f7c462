//! Reading config text and checking values, with errors that name the file, the key and the
//! problem. Shared by the node's config file, the control plane's distributions and the CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {cause}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The text is not valid TOML or has the wrong shape (wrong type, missing key).
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// A value is out of range, inconsistent, or a key is unknown.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key, e.g. `distributions[0].behaviors[1].origin`.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
}

/// Parses TOML `text` read from `file` into `T`, refusing keys `T` does not know: a typo in a
/// file is an error naming its key, never silently ignored.
pub fn parse_toml_strict<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|error| syntax(file, &error))?;
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(deserializer, |path| unknown.push(key_of(&path)))
        .map_err(|error| syntax(file, &error))?;
    match unknown.into_iter().next() {
        None => Ok(value),
        Some(key) => Err(ConfigError::Invalid {
            file: file.to_owned(),
            key,
            problem: "unknown key (see docs/config.md for the keys this release knows)".into(),
        }),
    }
}

fn syntax(file: &Path, error: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        file: file.to_owned(),
        message: error.to_string().trim_end().replace('\n', "\n  "),
    }
}

/// A serde_ignored path as a config key: `distributions[0].behaviors[1].cach`.
pub fn key_of(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_of(parent)),
        Path::Map { parent, key } => {
            let parent = key_of(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_of(parent),
    }
}

/// Checks values of one file: every error names the file; relative paths resolve against its
/// directory.
#[derive(Debug, Clone)]
pub struct Checker<'a> {
    file: &'a Path,
    dir: Option<PathBuf>,
}

impl<'a> Checker<'a> {
    /// A checker for a file on the machine that uses it: relative paths inside resolve
    /// against its directory.
    pub fn local(file: &'a Path) -> Self {
        let dir = file.parent().map(Path::to_owned).unwrap_or_default();
        Self {
            file,
            dir: Some(dir),
        }
    }

    /// A checker for text from elsewhere (the control plane): `label` names it in errors, and
    /// it may not name files.
    pub fn remote(label: &'a Path) -> Self {
        Self {
            file: label,
            dir: None,
        }
    }

    /// Whether the text came from elsewhere and may not name local files.
    pub fn is_remote(&self) -> bool {
        self.dir.is_none()
    }

    /// The file (or label) errors name.
    pub fn file(&self) -> &Path {
        self.file
    }

    /// An error at `key`.
    pub fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// `value` as a path: absolute as written, else against the file's directory.
    pub fn path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        match &self.dir {
            Some(dir) if !path.is_absolute() => dir.join(path),
            _ => path.to_owned(),
        }
    }

    /// A positive number of milliseconds, or `default`.
    pub fn positive_ms(
        &self,
        key: &str,
        value: Option<u64>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(0) => Err(self.invalid(key, "must be at least 1 ms")),
            Some(ms) => Ok(Duration::from_millis(ms)),
        }
    }

    /// `value` (or `default`) when it is at least `min`.
    pub fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        key: &str,
        value: Option<T>,
        default: T,
        min: T,
    ) -> Result<T, ConfigError> {
        let value = value.unwrap_or(default);
        if value < min {
            return Err(self.invalid(key, format!("{value} is below the minimum of {min}")));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[serde(default, rename = "items")]
        _items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[serde(rename = "name")]
        _name: String,
    }

    #[test]
    fn unknown_keys_are_named_by_their_path() {
        let file = Path::new("site.toml");
        let error = parse_toml_strict::<Outer>("[[items]]\nname = \"a\"\nnmae = \"b\"\n", file)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            error,
            Err("site.toml: items[0].nmae: unknown key (see docs/config.md for the keys this release knows)".into())
        );
        let error = parse_toml_strict::<Outer>("[[items]]\n", file).map_err(|e| e.to_string());
        assert!(
            error.is_err_and(|e| e.contains("line 1") && e.contains("name")),
            "a missing key is a syntax error with its line"
        );
    }
}
