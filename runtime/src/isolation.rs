//! The isolation self-check: before a node serves, the runtime proves on its own engine and
//! pool that an instance sees nothing a previous tenant of its slot left behind. The kernel's
//! part in resetting a pooled slot (`PAGEMAP_SCAN`, `madvise`) differs across versions, and a
//! swapped-out page is not reset in place, so this is checked on the machine, not assumed.
//!
//! The canary is a component written in the text format, so the runtime needs no guest build:
//! a viewer-request hook that checks and then dirties three kinds of page (a byte of its data
//! segment, a word of an initial page outside the data, and the first word of a page it grows)
//! and answers `err("clean")` or `err("dirty")` (an error is the simplest well-typed answer).

use crate::types::Request;
use crate::{
    FunctionOptions, Hook, HookInput, InvocationContext, InvokeError, LimitsSpec, Runtime,
};

/// Invocations of the canary in a row: every one after the first lands on a slot that a
/// canary just dirtied (the pool prefers the slot a module last used).
const ROUNDS: usize = 4;

/// The canary: `handle` lowers the request into memory through a bump `realloc`, checks and
/// dirties its pages, and returns `err(string)` through a return area.
const CANARY: &str = concat!(
    r#"
(component
  (core module $canary
    (memory (export "mem") 2)
    (global $next (mut i32) (i32.const 16384))
    (data (i32.const 1024) "\01")
    (data (i32.const 2000) "clean")
    (data (i32.const 2008) "dirty")
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (if (i32.gt_u (global.get $next) (i32.const 131072)) (then unreachable))
      (local.get $at))
    (func (export "handle")
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (local $dirty i32) (local $grown i32)
      ;; The data segment as the module's image has it.
      (if (i32.ne (i32.load8_u (i32.const 1024)) (i32.const 1))
        (then (local.set $dirty (i32.const 1))))
      (i32.store8 (i32.const 1024) (i32.const 2))
      ;; An initial page outside the data: zero.
      (if (i32.ne (i32.load (i32.const 60000)) (i32.const 0))
        (then (local.set $dirty (i32.const 1))))
      (i32.store (i32.const 60000) (i32.const 0xdead))
      ;; A page grown at run time: zero.
      (local.set $grown (i32.mul (memory.grow (i32.const 1)) (i32.const 65536)))
      (if (i32.ne (i32.load (local.get $grown)) (i32.const 0))
        (then (local.set $dirty (i32.const 1))))
      (i32.store (local.get $grown) (i32.const 0xbeef))
      ;; err(string): discriminant 1, then the string's pointer and length.
      (i32.store8 (i32.const 512) (i32.const 1))
      (i32.store (i32.const 516)
        (select (i32.const 2008) (i32.const 2000) (local.get $dirty)))
      (i32.store (i32.const 520) (i32.const 5))
      (i32.const 512)))
  (core instance $i (instantiate $canary))
"#,
    include_str!("../../wit/viewer-request-export.wat"),
    ")\n"
);

/// Why the self-check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    /// An instance saw what an earlier one left in its slot.
    #[error(
        "isolation self-check failed: invocation {round} saw memory an earlier instance wrote; \
         this machine's kernel does not reset pooled slots as wasmtime expects (run without \
         swap, or set runtime.allocation = \"on-demand\")"
    )]
    Leak {
        /// Which invocation (from 1) saw it.
        round: usize,
    },
    /// The canary could not run at all.
    #[error("isolation self-check could not run: {0}")]
    Broken(String),
}

impl Runtime {
    /// Runs the canary [`ROUNDS`] times on this runtime's engine and pool and fails if any
    /// instance saw what an earlier one wrote. Nodes run it before they serve.
    pub async fn check_isolation(&self) -> Result<(), IsolationError> {
        let broken = |error: &dyn std::fmt::Display| IsolationError::Broken(error.to_string());
        let wasm = wat::parse_str(CANARY).map_err(|e| broken(&e))?;
        let canary = self
            .load(&wasm, FunctionOptions::new("isolation-canary", "1"))
            .await
            .map_err(|e| broken(&e))?;
        let limits = self
            .limits(Hook::ViewerRequest, LimitsSpec::default())
            .map_err(|e| broken(&e))?;
        for round in 1..=ROUNDS {
            let request = Request {
                method: "GET".into(),
                uri: "/".into(),
                headers: Vec::new(),
                client_ip: "127.0.0.1".into(),
                body: None,
            };
            let outcome = canary
                .invoke(
                    Hook::ViewerRequest,
                    HookInput::Request(request),
                    &limits,
                    &InvocationContext::default(),
                )
                .await;
            match outcome.result {
                Err(InvokeError::GuestError { message }) if message == "clean" => {}
                Err(InvokeError::GuestError { message }) if message == "dirty" => {
                    return Err(IsolationError::Leak { round });
                }
                other => return Err(IsolationError::Broken(format!("{other:?}"))),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Allocation, RuntimeConfig};

    /// The canary's own logic: one instance called twice has dirtied its pages the second
    /// time, and says so. (Two fresh instances, on a correct pool, say clean.)
    #[test]
    fn the_canary_sees_what_an_earlier_call_wrote_when_memory_is_not_reset() {
        use wasmtime::component::{Component, Linker};
        let engine = wasmtime::Engine::default();
        let wasm = wat::parse_str(CANARY).unwrap();
        let component = Component::from_binary(&engine, &wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &component)
            .unwrap();
        let interface = instance
            .get_export_index(&mut store, None, Hook::ViewerRequest.export_name())
            .unwrap();
        let handle = instance
            .get_export_index(&mut store, Some(&interface), "handle")
            .unwrap();
        let func = instance
            .get_typed_func::<(Request,), (Result<crate::types::RequestAction, String>,)>(
                &mut store, handle,
            )
            .unwrap();
        let request = || Request {
            method: "GET".into(),
            uri: "/".into(),
            headers: Vec::new(),
            client_ip: "127.0.0.1".into(),
            body: None,
        };
        let (first,) = func.call(&mut store, (request(),)).unwrap();
        assert_eq!(first.err().as_deref(), Some("clean"));
        let (second,) = func.call(&mut store, (request(),)).unwrap();
        assert_eq!(second.err().as_deref(), Some("dirty"));
    }

    #[tokio::test]
    async fn the_canary_finds_every_slot_clean_under_both_allocators() {
        for allocation in [Allocation::Pooling, Allocation::OnDemand] {
            let runtime = Runtime::new(RuntimeConfig {
                allocation,
                max_instances: 4,
                ..RuntimeConfig::default()
            })
            .unwrap();
            assert_eq!(runtime.check_isolation().await, Ok(()), "{allocation:?}");
        }
    }
}
