//! The log tap behind `GET /logs` on the admin listener (and `wedge logs --follow`): access
//! lines and the functions' own log lines, the most recent kept in memory and new ones
//! broadcast to whoever follows, filtered by kind, function and status.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::{broadcast, mpsc};

/// Lines kept for a `GET /logs` without `follow`.
const RECENT: usize = 512;
/// Lines a slow follower may fall behind before it loses some (it is told how many).
const FOLLOW_BUFFER: usize = 1024;

/// Which log a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// One line per request.
    Access,
    /// A line a function logged.
    Function,
}

/// One line with what filters look at.
#[derive(Debug)]
pub struct LogEntry {
    /// Access or function.
    pub kind: LogKind,
    /// The request's final status.
    pub status: u16,
    /// The names of the functions involved (for a function line, the one that logged).
    pub functions: Vec<String>,
    /// The JSON line.
    pub line: String,
}

/// Recent lines and the live feed.
#[derive(Debug)]
pub struct LogTap {
    feed: broadcast::Sender<Arc<LogEntry>>,
    recent: Mutex<VecDeque<Arc<LogEntry>>>,
}

impl Default for LogTap {
    fn default() -> Self {
        Self {
            feed: broadcast::channel(FOLLOW_BUFFER).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }
}

impl LogTap {
    /// Whether anyone follows the feed right now.
    pub fn followed(&self) -> bool {
        self.feed.receiver_count() > 0
    }

    /// Records `entry`: kept among the recent lines and sent to followers.
    pub fn publish(&self, entry: LogEntry) {
        let entry = Arc::new(entry);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(Arc::clone(&entry));
        }
        if self.followed() {
            // A follower leaving between the check and the send is not worth anything here.
            let _ = self.feed.send(entry);
        }
    }

    /// A streaming body: the last `tail` matching lines, then (with `follow`) new ones as they
    /// come, one JSON object per line.
    pub fn stream(&self, filter: LogFilter, tail: usize, follow: bool) -> LogStream {
        // Subscribe before reading the backlog so nothing falls between the two.
        let mut feed = self.feed.subscribe();
        let backlog: Vec<Arc<LogEntry>> = self
            .recent
            .lock()
            .map(|recent| {
                recent
                    .iter()
                    .filter(|e| filter.matches(e))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let skip = backlog.len().saturating_sub(tail);
        let (sender, receiver) = mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            for entry in backlog.into_iter().skip(skip) {
                if sender.send(line_bytes(&entry.line)).await.is_err() {
                    return;
                }
            }
            if !follow {
                return;
            }
            loop {
                let next = tokio::select! {
                    next = feed.recv() => next,
                    () = sender.closed() => return,
                };
                let bytes = match next {
                    Ok(entry) if filter.matches(&entry) => line_bytes(&entry.line),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(lost)) => {
                        line_bytes(&serde_json::json!({"type": "lagged", "lost": lost}).to_string())
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if sender.send(bytes).await.is_err() {
                    return;
                }
            }
        });
        LogStream { lines: receiver }
    }
}

fn line_bytes(line: &str) -> Bytes {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The body of `GET /logs`: ends when the backlog is sent (without `follow`) or the node
/// stops; the follower going away ends the task feeding it.
#[derive(Debug)]
pub struct LogStream {
    lines: mpsc::Receiver<Bytes>,
}

impl Body for LogStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.lines
            .poll_recv(cx)
            .map(|line| line.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Which lines a follower wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this kind.
    pub kind: Option<LogKind>,
    /// Only lines involving this function (by name).
    pub function: Option<String>,
    /// Only requests with this status: exact (`404`) or a class (`5xx`).
    pub status: Option<StatusFilter>,
}

/// A status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this status.
    Exact(u16),
    /// Any status of this class (`5` for 5xx).
    Class(u16),
}

impl StatusFilter {
    /// Parses `404` or `5xx`.
    pub fn parse(text: &str) -> Option<Self> {
        let lower = text.to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx") {
            return class
                .parse::<u16>()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(Self::Class);
        }
        lower
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .map(Self::Exact)
    }

    fn matches(self, status: u16) -> bool {
        match self {
            Self::Exact(exact) => status == exact,
            Self::Class(class) => status / 100 == class,
        }
    }
}

impl LogFilter {
    /// From the query string of `GET /logs`: `type=access|function`, `function=NAME`,
    /// `status=404|5xx`; other keys (`follow`, `tail`) are left to the caller.
    pub fn from_query(query: &str) -> Result<Self, String> {
        let mut filter = Self::default();
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            match key {
                "type" => {
                    filter.kind = Some(match value {
                        "access" => LogKind::Access,
                        "function" => LogKind::Function,
                        _ => return Err(format!("type `{value}`: expected access or function")),
                    });
                }
                "function" if !value.is_empty() => filter.function = Some(value.to_owned()),
                "status" => {
                    filter.status = Some(StatusFilter::parse(value).ok_or_else(|| {
                        format!(
                            "status `{value}`: expected a status such as 404 or a class such as 5xx"
                        )
                    })?);
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    /// Whether `entry` passes.
    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.kind.is_none_or(|kind| kind == entry.kind)
            && self
                .function
                .as_ref()
                .is_none_or(|name| entry.functions.iter().any(|f| f == name))
            && self
                .status
                .is_none_or(|status| status.matches(entry.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: LogKind, status: u16, function: &str) -> LogEntry {
        LogEntry {
            kind,
            status,
            functions: vec![function.to_owned()],
            line: format!("{{\"status\":{status}}}"),
        }
    }

    #[test]
    fn filters_by_kind_function_and_status() {
        let filter = LogFilter::from_query("type=access&function=auth&status=5xx").unwrap();
        assert!(filter.matches(&entry(LogKind::Access, 503, "auth")));
        assert!(!filter.matches(&entry(LogKind::Access, 404, "auth")));
        assert!(!filter.matches(&entry(LogKind::Function, 503, "auth")));
        assert!(!filter.matches(&entry(LogKind::Access, 503, "other")));
        let exact = LogFilter::from_query("status=404").unwrap();
        assert!(exact.matches(&entry(LogKind::Function, 404, "x")));
        assert!(LogFilter::from_query("status=9xx").is_err());
        assert!(LogFilter::from_query("type=debug").is_err());
    }

    #[tokio::test]
    async fn streams_the_tail_then_follows() {
        use http_body_util::BodyExt;
        let tap = LogTap::default();
        for status in [200, 500, 501] {
            tap.publish(entry(LogKind::Access, status, "f"));
        }
        let filter = LogFilter::from_query("status=5xx").unwrap();
        let mut stream = tap.stream(filter, 1, true);
        let first = stream.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{\"status\":501}\n");
        tap.publish(entry(LogKind::Access, 200, "f"));
        tap.publish(entry(LogKind::Access, 502, "f"));
        let next = stream.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&next[..], b"{\"status\":502}\n");
    }
}
