//! Structured logging to the node. Every line is tagged by the host with the request id and the
//! function; use the [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
//! [`warn!`](crate::warn) and [`error!`](crate::error) macros.

pub use crate::__bindings::log::Level;

/// Writes one log line at `level`. The macros call this; call it directly when the level is
/// chosen at run time.
///
/// ```no_run
/// use wedge_sdk::log::{Level, write};
///
/// let slow = true;
/// write(if slow { Level::Warn } else { Level::Debug }, "origin took 2.1 s");
/// ```
pub fn write(level: Level, message: &str) {
    crate::__bindings::log::write(level, message);
}

/// Logs a line at a given level with `format!` arguments.
///
/// ```no_run
/// use wedge_sdk::log::Level;
///
/// let path = "/index.html";
/// wedge_sdk::log!(Level::Info, "served {path}");
/// ```
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::write($level, &::std::format!($($arg)+))
    };
}

/// Logs a trace line with `format!` arguments.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Trace, $($arg)+) };
}

/// Logs a debug line with `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Debug, $($arg)+) };
}

/// Logs an info line with `format!` arguments. The other level macros work the same way.
///
/// ```no_run
/// let user = "ada";
/// wedge_sdk::info!("user {user} allowed");
/// wedge_sdk::warn!("token for {user} expires in {} s", 30);
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Info, $($arg)+) };
}

/// Logs a warning line with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Warn, $($arg)+) };
}

/// Logs an error line with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Error, $($arg)+) };
}
