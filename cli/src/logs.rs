//! `wedge logs`: a node's recent access and function log lines from its admin listener's
//! `GET /logs`, and with `--follow` the new ones as they come.

use serde_json::Value;

use crate::Output;
use crate::client::Client;

/// `wedge logs`: which node, and what to ask it for.
#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// The node's admin URL.
    #[arg(
        long,
        env = "WEDGE_NODE_ADMIN",
        default_value = "http://127.0.0.1:9901"
    )]
    node: String,
    /// Keep streaming new lines.
    #[arg(long, short)]
    follow: bool,
    /// Only lines involving this function.
    #[arg(long)]
    function: Option<String>,
    /// Only requests with this status (`404`) or class (`5xx`).
    #[arg(long)]
    status: Option<String>,
    /// Only `access` or `function` lines.
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// How many recent lines to start with.
    #[arg(long, default_value_t = 20)]
    tail: usize,
    /// The node's admin token (`[admin] token`, or its control-plane node token).
    #[arg(long = "node-token", env = "WEDGE_NODE_TOKEN", hide_env_values = true)]
    node_token: Option<String>,
}

/// Streams the lines to stdout: raw JSON with `--json`, else one readable line each.
pub(crate) async fn run(args: &LogsArgs, out: Output) -> anyhow::Result<()> {
    let json = out.json;
    let client = Client::new(&args.node, args.node_token.clone(), None)?;
    let mut path = format!("/logs?tail={}&follow={}", args.tail, args.follow);
    for (key, value) in [
        ("function", args.function.as_deref()),
        ("status", args.status.as_deref()),
        ("type", args.kind.as_deref()),
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
