//! The rules for names, one per kind, shared by the node's config, the control plane and the
//! CLI, so that what one accepts the others do too.

/// Longest id or name of any kind.
pub const MAX_NAME_LEN: usize = 64;

/// Ids of distributions and nodes: 1 to 64 of letters, digits, `-`, `_`, `.`, starting with a
/// letter or digit (so never `.` or `..`, which mean something in paths and URLs).
pub fn check_id(kind: &str, id: &str) -> Result<(), String> {
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

/// Function and alias names: 1 to 64 of `a-z 0-9 - _`.
pub fn check_function_name(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} name `{name}`: use 1 to {MAX_NAME_LEN} of a-z, 0-9, `-`, `_`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_mean_something_in_a_path_are_refused() {
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_id("id", bad).is_err(), "{bad}");
        }
        for good in ["www", "edge-1", "a.b_c", "9"] {
            assert!(check_id("id", good).is_ok(), "{good}");
        }
    }
}
