//! `wedge logs`: a node's recent access and function log lines from its admin listener's
//! `GET /logs`, and with `--follow` the new ones as they come.

use serde_json::Value;

use crate::client::Client;

/// What to ask the node for.
pub(crate) struct LogQuery<'a> {
    pub(crate) follow: bool,
    pub(crate) function: Option<&'a str>,
    pub(crate) status: Option<&'a str>,
    pub(crate) kind: Option<&'a str>,
    pub(crate) tail: usize,
}

/// Streams the lines to stdout: raw JSON with `json`, else one readable line each.
pub(crate) async fn run(
    node: &str,
    token: Option<String>,
    query: &LogQuery<'_>,
    json: bool,
) -> anyhow::Result<()> {
    let client = Client::new(node, token)?;
    let mut path = format!("/logs?tail={}&follow={}", query.tail, query.follow);
    for (key, value) in [
        ("function", query.function),
        ("status", query.status),
        ("type", query.kind),
    ] {
        if let Some(value) = value {
            path.push_str(&format!("&{key}={value}"));
        }
    }
    client
        .lines(&path, |line| {
            if json {
                println!("{line}");
            } else {
                println!("{}", human(line));
            }
        })
        .await
}

/// One log line for people: access lines as `status method host uri cache duration
/// [functions]`, function lines as `[function hook level] message`.
fn human(line: &str) -> String {
    let Ok(entry) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let text = |key: &str| entry[key].as_str().unwrap_or("-").to_owned();
    match entry["type"].as_str() {
        Some("access") => {
            let functions: Vec<String> = entry["hooks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    format!(
                        "{}:{}{}",
                        h["hook"].as_str().unwrap_or("?"),
                        h["function"].as_str().unwrap_or("?"),
                        h["error"]
                            .as_str()
                            .map(|e| format!("!{e}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "{} {} {} {}{} {} {}us {}{}",
                entry["request_id"].as_str().unwrap_or("-"),
                entry["status"],
                text("method"),
                text("host"),
                text("uri"),
                text("cache"),
                entry["duration_us"],
                functions.join(" "),
                entry["error_detail"]
                    .as_str()
                    .map(|d| format!(" error: {d}"))
                    .unwrap_or_default()
            )
        }
        Some("function") => format!(
            "{} [{} {} {}] {}",
            entry["request_id"].as_str().unwrap_or("-"),
            text("function"),
            text("hook"),
            text("level"),
            text("message")
        ),
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn formats_access_and_function_lines() {
        let access = r#"{"type":"access","request_id":"r1","status":200,"method":"GET","host":"h","uri":"/x","cache":"miss","duration_us":12,"hooks":[{"hook":"viewer-request","function":"auth@2","error":null}]}"#;
        assert_eq!(
            human(access),
            "r1 200 GET h/x miss 12us viewer-request:auth@2"
        );
        let function = r#"{"type":"function","request_id":"r1","function":"auth@2","hook":"viewer-request","level":"warn","message":"no token"}"#;
        assert_eq!(human(function), "r1 [auth@2 viewer-request warn] no token");
        assert_eq!(human("not json"), "not json");
    }
}
