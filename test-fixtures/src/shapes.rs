//! Components of shapes no Rust guest takes, written in the text format: well-typed hooks
//! whose bodies never run, for what the host decides before any hook is called.

/// A well-typed `wedge:edge/viewer-request@0.1.0` hook in a component that holds `memories`
/// linear memories in all (one in the hook's core module, one in each other core instance).
///
/// # Panics
/// If `memories` is 0 (the hook's module has one).
#[allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a broken fixture is a broken test"
)]
pub fn hook_with_memories(memories: usize) -> Vec<u8> {
    assert!(memories >= 1, "the hook's own module has a memory");
    let others = "(core instance (instantiate $other))\n".repeat(memories - 1);
    let hook_export = include_str!("../../wit/viewer-request-export.wat");
    let text = format!(
        r#"
(component
  (core module $hook
    (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "handle") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      unreachable))
  (core module $other (memory 1))
  (core instance $i (instantiate $hook))
  {others}
{hook_export})
"#
    );
    wat::parse_str(text).expect("the fixture's text is valid")
}
