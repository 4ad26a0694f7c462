//! The access log: one JSON object per request, written by a background thread so that the
//! request path never waits on the disk. Lines (and the functions' own log lines) also go to
//! the [`LogTap`] that `wedge logs` follows.

use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use serde_json::json;

use crate::config::AccessLogTarget;
use crate::log_tap::{LogEntry, LogKind, LogTap};
use crate::trace::Trace;

/// A handle to the log writer. Cheap to clone; the writer thread ends when every handle is gone.
#[derive(Debug, Clone)]
pub struct AccessLog {
    lines: Option<mpsc::Sender<String>>,
    tap: std::sync::Arc<LogTap>,
}

/// What the access log records about the request itself.
#[derive(Debug, Clone)]
pub struct RequestLine<'a> {
    /// The method.
    pub method: &'a Method,
    /// The Host header.
    pub host: &'a str,
    /// Path and query.
    pub uri: &'a str,
    /// The viewer's address.
    pub client_ip: IpAddr,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'a str,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub fn open(target: &AccessLogTarget) -> std::io::Result<Self> {
        let tap = std::sync::Arc::new(LogTap::default());
        let writer: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => return Ok(Self { lines: None, tap }),
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (sender, receiver) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("wedge-access-log".into())
            .spawn(move || write_lines(&receiver, writer))?;
        Ok(Self {
            lines: Some(sender),
            tap,
        })
    }

    /// The tap `GET /logs` reads.
    pub fn tap(&self) -> &LogTap {
        &self.tap
    }

    /// Logs one finished request.
    pub fn write(
        &self,
        request: &RequestLine<'_>,
        trace: &Trace,
        status: u16,
        bytes: usize,
        elapsed: Duration,
    ) {
        // With the log off, lines are only built while someone follows them.
        if self.lines.is_none() && !self.tap.followed() {
            return;
        }
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let hooks: Vec<_> = trace
            .hooks
            .iter()
            .map(|hook| {
                json!({
                    "hook": hook.hook.as_str(),
                    "function": hook.function,
                    "error": hook.error,
                    "instantiate_us": hook.receipt.instantiate.as_micros(),
                    "run_us": hook.receipt.run.as_micros(),
                    "total_us": hook.receipt.total.as_micros(),
                    "fuel": hook.receipt.fuel_consumed,
                    "peak_memory_bytes": hook.receipt.peak_memory_bytes,
                })
            })
            .collect();
        let names: Vec<String> = trace
            .hooks
            .iter()
            .map(|hook| hook.function_name().to_owned())
            .collect();
        for hook in &trace.hooks {
            for log in &hook.logs {
                let line = json!({
                    "type": "function",
                    "ts_ms": timestamp_ms,
                    "request_id": &*trace.request_id,
                    "distribution": trace.distribution.as_deref(),
                    "function": hook.function,
                    "hook": hook.hook.as_str(),
                    "level": format!("{:?}", log.level).to_ascii_lowercase(),
                    "source": format!("{:?}", log.source).to_ascii_lowercase(),
                    "message": log.message,
                    "status": status,
                });
                self.tap.publish(LogEntry {
                    kind: LogKind::Function,
                    status,
                    functions: vec![hook.function_name().to_owned()],
                    line: line.to_string(),
                });
            }
        }
        let line = json!({
            "type": "access",
            "ts_ms": timestamp_ms,
            "request_id": &*trace.request_id,
            "distribution": trace.distribution.as_deref(),
            "behavior": trace.behavior.as_deref(),
            "client_ip": request.client_ip.to_string(),
            "method": request.method.as_str(),
            "host": request.host,
            "uri": request.uri,
            "protocol": request.protocol,
            "status": status,
            "cache": trace.cache.as_str(),
            "bytes": bytes,
            "duration_us": elapsed.as_micros(),
            "error": trace.error.as_ref().map(|e| e.class()),
            "error_source": trace.error.as_ref().map(|e| e.blame().as_str()),
            "error_detail": trace.error.as_ref().map(|e| e.detail.as_str()),
            "origin": trace.origin.as_ref().map(|o| json!({
                "name": o.name, "status": o.status, "duration_us": o.duration.as_micros(),
            })),
            "hooks": hooks,
        });
        let line = line.to_string();
        if let Some(lines) = &self.lines {
            // The writer thread only stops when every sender is gone, so a send cannot fail
            // here unless the thread died writing; the request is unaffected either way.
            let _ = lines.send(line.clone());
        }
        self.tap.publish(LogEntry {
            kind: LogKind::Access,
            status,
            functions: names,
            line,
        });
    }
}

fn write_lines(receiver: &mpsc::Receiver<String>, writer: Box<dyn Write + Send>) {
    let mut out = BufWriter::new(writer);
    while let Ok(line) = receiver.recv() {
        let mut batch = Some(line);
        // Drain what is queued, then flush once.
        while let Some(line) = batch {
            if writeln!(out, "{line}").is_err() {
                return;
            }
            batch = receiver.try_recv().ok();
        }
        if out.flush().is_err() {
            return;
        }
    }
}
