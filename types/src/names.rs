//! The rules for names, one per kind, shared by the node's config, the control plane and the
//! CLI, so that what one accepts the others do too. Each returns the problem as a sentence
//! naming the kind and the value.

/// Longest id or name of any kind.
pub const MAX_NAME_LEN: usize = 64;

/// Ids: 1 to 64 of letters, digits, `-`, `_`, `.`, starting with a letter or digit (so never
/// `.` or `..`, which mean something in paths and URLs).
fn check_id(kind: &str, id: &str) -> Result<(), String> {
    let valid = id.len() <= MAX_NAME_LEN
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} `{id}`: use 1 to {MAX_NAME_LEN} of letters, digits, `-`, `_`, `.`, starting with a letter or digit"
        ))
    }
}

/// Function-like names: 1 to 64 of `a-z 0-9 - _`.
fn check_lower(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} `{name}`: use 1 to {MAX_NAME_LEN} of a-z, 0-9, `-`, `_`"
        ))
    }
}

/// A distribution id (used in cache keys, URLs, logs and purge requests).
pub fn distribution_id(id: &str) -> Result<(), String> {
    check_id("distribution id", id)
}

/// A node id (shown in `via`, logs and the control plane's node list).
pub fn node_id(id: &str) -> Result<(), String> {
    check_id("node id", id)
}

/// A function name.
pub fn function_name(name: &str) -> Result<(), String> {
    check_lower("function name", name)
}

/// An alias name. All digits would read as a version number, so an alias needs a letter,
/// `-` or `_`.
pub fn alias_name(name: &str) -> Result<(), String> {
    check_lower("alias name", name)?;
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "alias name `{name}`: all digits would read as a version number"
        ));
    }
    Ok(())
}

/// An origin name within a distribution.
pub fn origin_name(name: &str) -> Result<(), String> {
    check_id("origin name", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_mean_something_in_a_path_are_refused() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(distribution_id(bad).is_err(), "{bad}");
            assert!(node_id(bad).is_err(), "{bad}");
        }
        for good in ["www", "edge-1", "a.b_c", "9", &"x".repeat(64)] {
            assert!(distribution_id(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn function_and_alias_names_are_lower_case_and_aliases_are_not_numbers() {
        for bad in ["", "Bad Name", "a/b", "A", "a.b", &"x".repeat(65)] {
            assert!(function_name(bad).is_err(), "{bad}");
            assert!(alias_name(bad).is_err(), "{bad}");
        }
        assert!(function_name("hello-2").is_ok());
        assert!(alias_name("live").is_ok());
        assert!(alias_name("42").is_err());
        assert!(function_name("42").is_ok());
    }
}
