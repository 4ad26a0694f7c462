//! How a function is referenced, and the one grammar for it.
//!
//! - `NAME@ALIAS` or `NAME@VERSION`: a version published to the control plane, by alias
//!   (whatever version the alias points at in the applied revision) or by number. In a node's
//!   own config file this is written `control:NAME@ALIAS`; in a control-plane distribution and
//!   on the CLI the prefix is optional.
//! - anything else in a node's config file: the path of a component file (`file:` optional).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::names;

/// A function as a distribution names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionRef {
    /// A component file on local disk (absolute, resolved against the config file).
    File(PathBuf),
    /// A published version, by alias or number.
    Published(PublishedRef),
}

/// `NAME@ALIAS` or `NAME@VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishedRef {
    /// The function's name.
    pub function: String,
    /// Which version.
    pub selector: Selector,
}

/// Which published version a reference means.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// Whatever version the alias points at.
    Alias(String),
    /// Exactly this version (numbers count from 1).
    Version(u32),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Alias(alias) => f.write_str(alias),
            Selector::Version(version) => write!(f, "{version}"),
        }
    }
}

impl fmt::Display for PublishedRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.function, self.selector)
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionRef::File(path) => write!(f, "file:{}", path.display()),
            FunctionRef::Published(reference) => write!(f, "control:{reference}"),
        }
    }
}

impl Selector {
    /// Parses the part after `@`: a version number (from 1) when it is all digits, else an
    /// alias name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u32>() {
                Ok(0) => Err("version numbers count from 1".into()),
                Ok(version) => Ok(Selector::Version(version)),
                Err(_) => Err(format!("`{text}` is not a version number")),
            };
        }
        names::alias_name(text)?;
        Ok(Selector::Alias(text.to_owned()))
    }
}

impl FromStr for PublishedRef {
    type Err = String;

    /// `NAME@ALIAS` or `NAME@VERSION`, the `control:` prefix allowed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bare = text.strip_prefix("control:").unwrap_or(text);
        let Some((function, selector)) = bare.split_once('@') else {
            return Err(format!(
                "`{text}`: expected NAME@ALIAS or NAME@VERSION, e.g. hello@live or hello@3"
            ));
        };
        names::function_name(function).map_err(|problem| format!("`{text}`: {problem}"))?;
        let selector =
            Selector::parse(selector).map_err(|problem| format!("`{text}`: {problem}"))?;
        Ok(Self {
            function: function.to_owned(),
            selector,
        })
    }
}

impl FunctionRef {
    /// Parses a reference as a node's config file writes it: `control:NAME@ALIAS|VERSION`, or
    /// a file path (`file:` optional) resolved by `resolve`.
    pub fn parse_local(text: &str, resolve: impl FnOnce(&str) -> PathBuf) -> Result<Self, String> {
        if text.is_empty() {
            return Err("expected the path of a .wasm component or control:NAME@ALIAS".into());
        }
        if text.starts_with("control:") {
            return text.parse().map(FunctionRef::Published);
        }
        Ok(FunctionRef::File(resolve(
            text.strip_prefix("file:").unwrap_or(text),
        )))
    }

    /// Parses a reference as a control-plane distribution writes it: always a published
    /// version, `control:` optional.
    pub fn parse_remote(text: &str) -> Result<Self, String> {
        text.parse().map(FunctionRef::Published)
    }

    /// The published reference, if this is one.
    pub fn published(&self) -> Option<&PublishedRef> {
        match self {
            FunctionRef::Published(reference) => Some(reference),
            FunctionRef::File(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_takes_aliases_and_versions_and_refuses_the_rest() {
        let parsed: PublishedRef = "hello@live".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.selector, Selector::Alias("live".into()));
        assert_eq!(parsed.to_string(), "hello@live");
        let parsed: PublishedRef = "control:hello@3".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.selector, Selector::Version(3));
        for bad in [
            "hello",
            "@live",
            "hello@",
            "Bad Name@live",
            "a/b@1",
            "hello@0",
            "hello@x y",
        ] {
            assert!(bad.parse::<PublishedRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn local_references_are_files_unless_they_say_control() {
        let resolve = |p: &str| PathBuf::from("/etc/wedge").join(p);
        assert_eq!(
            FunctionRef::parse_local("fn.wasm", resolve),
            Ok(FunctionRef::File("/etc/wedge/fn.wasm".into()))
        );
        assert!(matches!(
            FunctionRef::parse_local("control:a@live", resolve),
            Ok(FunctionRef::Published(_))
        ));
        assert!(FunctionRef::parse_local("", resolve).is_err());
        assert_eq!(
            FunctionRef::parse_remote("a@2").map(|r| r.to_string()),
            Ok("control:a@2".into())
        );
    }
}
