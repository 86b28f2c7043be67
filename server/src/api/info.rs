//! The `info` reply (`server_info`), shaped like Janus 1.1.2's.

use serde_json::{Map, Value, json};

use super::ApiCore;

/// Janus encodes versions as `major*1000 + minor*100 + patch`... for 1.1.2 that is 1102; we
/// report our own version the same way.
fn numeric_version() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    major * 1000 + minor * 100 + patch
}

pub fn server_info(core: &ApiCore, transaction: &str) -> Value {
    let config = core.config();
    let general = &config.general;
    let mut info = Map::new();
    let mut put = |k: &str, v: Value| {
        info.insert(k.to_string(), v);
    };
    put("janus", json!("server_info"));
    put("transaction", json!(transaction));
    put("name", json!("portunus"));
    put("version", json!(numeric_version()));
    put("version_string", json!(env!("CARGO_PKG_VERSION")));
    put("author", json!("The portunus authors"));
    put("commit-hash", json!("not-available"));
    put("compile-time", json!("not-available"));
    put("log-to-stdout", json!(true));
    put("log-to-file", json!(false));
    put("data_channels", json!(true));
    put(
        "accepting-new-sessions",
        json!(core.accepting.load(std::sync::atomic::Ordering::Relaxed)),
    );
    put("session-timeout", json!(general.session_timeout));
    put(
        "reclaim-session-timeout",
        json!(general.reclaim_session_timeout),
    );
    put("candidates-timeout", json!(general.candidates_timeout));
    put("server-name", json!(general.server_name));
    let local_ip = core
        .media()
        .local_addrs()
        .into_iter()
        .map(|a| a.ip())
        .find(|ip| !ip.is_loopback())
        .or_else(|| core.media().local_addrs().first().map(|a| a.ip()));
    if let Some(ip) = local_ip {
        put("local-ip", json!(ip.to_string()));
    }
    if let Some(public) = config.media.nat_1_1 {
        put("public-ip", json!(public.to_string()));
    }
    put("ipv6", json!(false));
    put("ice-lite", json!(false));
    put("ice-tcp", json!(false));
    put("full-trickle", json!(general.full_trickle));
    put("mdns-enabled", json!(false));
    put("static-event-loops", json!(config.media.workers));
    put("api_secret", json!(core.auth.api_secret_enabled()));
    put("auth_token", json!(core.auth.token_auth_enabled()));
    put("event_handlers", json!(false));
    put("opaqueid_in_api", json!(false));
    put(
        "dependencies",
        json!({"str0m": "0.25", "wasmtime": "48", "tokio": "1", "axum": "0.8"}),
    );
    let transports: Map<String, Value> = core
        .transports
        .lock()
        .iter()
        .map(|t| {
            (
                t.package.to_string(),
                json!({"name": t.name, "author": "The portunus authors", "description": t.description,
                       "version_string": t.version_string, "version": t.version}),
            )
        })
        .collect();
    put("transports", Value::Object(transports));
    put("events", json!({}));
    put("loggers", json!({}));
    let plugins: Map<String, Value> = core
        .plugins()
        .map(|host| host.infos())
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.package,
                json!({"name": p.name, "author": p.author, "description": p.description,
                       "version_string": p.version_string, "version": p.version}),
            )
        })
        .collect();
    put("plugins", Value::Object(plugins));
    Value::Object(info)
}
