//! `config.toml`: the gateway's settings. Every key is optional (defaults match Janus's), and
//! every mistake (syntax, unknown key, wrong type, bad value) is an error naming the key.

mod plugin_section;

pub use plugin_section::SaveError;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use portunus_media::MediaConfig;
use portunus_plugin_host::PluginConfig;
use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0}")]
    Syntax(String),
    /// A key with a wrong type or an unknown key; `key` is its dotted path.
    #[error("config key `{key}`: {reason}")]
    Key { key: String, reason: String },
}

impl ConfigError {
    fn key(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub general: GeneralConfig,
    pub http: HttpConfig,
    pub websocket: WsConfig,
    pub admin: AdminConfig,
    pub media: MediaConfig,
    pub plugins: PluginConfig,
    /// The file this was loaded from (absolute), where plugins' `save-config` writes; `None`
    /// when built in code.
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneralConfig {
    /// Shown as `server-name` in `info`.
    pub server_name: String,
    /// Seconds of inactivity before a session is reaped; 0 = never.
    pub session_timeout: u64,
    /// Seconds a session survives its transport's loss, waiting for a `claim`; 0 = none.
    pub reclaim_session_timeout: u64,
    /// Seconds a trickled candidate may wait for its SDP.
    pub candidates_timeout: u64,
    /// When set, every request but `info`/`ping` must carry it as `apisecret`.
    pub api_secret: Option<String>,
    /// Token authentication (`token` on every request).
    pub token_auth: bool,
    /// With token_auth: verify signed tokens with this HMAC-SHA1 secret instead of stored ones.
    pub token_auth_secret: Option<String>,
    /// Also send the server's candidates as `trickle` events after each SDP (Janus full_trickle).
    pub full_trickle: bool,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            server_name: "portunus".to_string(),
            session_timeout: 60,
            reclaim_session_timeout: 0,
            candidates_timeout: 45,
            api_secret: None,
            token_auth: false,
            token_auth_secret: None,
            full_trickle: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub enabled: bool,
    pub bind: IpAddr,
    /// 0 = any free port (tests).
    pub port: u16,
    pub base_path: String,
    /// Web pages served at `/`; relative paths are relative to the config file.
    pub demos_dir: Option<PathBuf>,
    /// Seconds a long poll waits for events before answering `keepalive` (Janus: 30).
    pub longpoll_keepalive: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 8088,
            base_path: "/janus".to_string(),
            demos_dir: Some(PathBuf::from("demos")),
            longpoll_keepalive: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    pub enabled: bool,
    pub bind: IpAddr,
    pub port: u16,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            enabled: true,
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 8188,
        }
    }
}

/// The Admin API (served by a later version; the settings are accepted now).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub enabled: bool,
    pub bind: IpAddr,
    pub http_port: u16,
    pub ws_port: u16,
    pub base_path: String,
    pub admin_secret: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: false,
            bind: IpAddr::from([127, 0, 0, 1]),
            http_port: 7088,
            ws_port: 7188,
            base_path: "/admin".to_string(),
            admin_secret: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMedia {
    udp_port: u16,
    workers: usize,
    interfaces: Vec<IpAddr>,
    nat_1_1_mapping: Option<IpAddr>,
    no_media_timer: u64,
    slowlink_threshold: u32,
    av1_dependency_descriptor: bool,
    native_egress: bool,
}

impl Default for RawMedia {
    fn default() -> Self {
        let d = MediaConfig::default();
        RawMedia {
            udp_port: d.udp_port,
            workers: d.workers,
            interfaces: d.interfaces,
            nat_1_1_mapping: d.nat_1_1,
            no_media_timer: d.no_media_timer,
            slowlink_threshold: d.slowlink_threshold,
            av1_dependency_descriptor: d.av1_dependency_descriptor,
            native_egress: d.native_egress,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTransports {
    http: HttpConfig,
    websocket: WsConfig,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    general: GeneralConfig,
    transports: RawTransports,
    admin: AdminConfig,
    media: RawMedia,
    /// Parsed by hand: known keys plus one table per plugin package name.
    plugins: toml::Table,
}

impl Config {
    /// Reads and validates a config file. Relative paths in it are resolved against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut config = Config::parse(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.source = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        Ok(config)
    }

    /// A plugin's `save-config`: `settings` (a JSON object) becomes its
    /// `[plugins."<package>"]` section in the file this was loaded from; the rest of the file
    /// is kept as it is. The caller serializes concurrent saves.
    pub fn save_plugin_section(
        &self,
        package: &str,
        settings: &serde_json::Value,
    ) -> Result<(), SaveError> {
        let path = self.source.as_deref().ok_or(SaveError::NoFile)?;
        plugin_section::save_section(path, package, settings)
    }

    /// Parses and validates config text (paths stay as written).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner().to_string();
                // Make sure an unknown key's own name ends the path.
                let key = match unknown_field_name(&inner) {
                    Some(field) if key == "." => field,
                    Some(field) if !key.ends_with(&field) => format!("{key}.{field}"),
                    _ => key,
                };
                ConfigError::Key {
                    key,
                    reason: inner.trim().to_string(),
                }
            })?;
        let config = Config {
            media: MediaConfig {
                udp_port: raw.media.udp_port,
                workers: raw.media.workers,
                interfaces: raw.media.interfaces,
                nat_1_1: raw.media.nat_1_1_mapping,
                no_media_timer: raw.media.no_media_timer,
                slowlink_threshold: raw.media.slowlink_threshold,
                av1_dependency_descriptor: raw.media.av1_dependency_descriptor,
                native_egress: raw.media.native_egress,
            },
            plugins: parse_plugins(raw.plugins)?,
            general: raw.general,
            http: raw.transports.http,
            websocket: raw.transports.websocket,
            admin: raw.admin,
            source: None,
        };
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(dir) = &self.http.demos_dir
            && dir.is_relative()
        {
            self.http.demos_dir = Some(base.join(dir));
        }
        if let Some(dir) = &self.plugins.dir
            && dir.is_relative()
        {
            self.plugins.dir = Some(base.join(dir));
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let base = &self.http.base_path;
        if !base.starts_with('/') || base.len() < 2 || base.ends_with('/') {
            return Err(ConfigError::key(
                "transports.http.base_path",
                format!("must start with '/', not end with '/' and not be empty (got {base:?})"),
            ));
        }
        if self.admin.base_path == *base || !self.admin.base_path.starts_with('/') {
            return Err(ConfigError::key(
                "admin.base_path",
                "must start with '/' and differ from transports.http.base_path",
            ));
        }
        if self.general.token_auth_secret.is_some() && !self.general.token_auth {
            return Err(ConfigError::key(
                "general.token_auth_secret",
                "set, but general.token_auth is false",
            ));
        }
        if matches!(&self.general.api_secret, Some(s) if s.is_empty()) {
            return Err(ConfigError::key(
                "general.api_secret",
                "must not be empty (remove the key to disable it)",
            ));
        }
        if matches!(&self.general.token_auth_secret, Some(s) if s.is_empty()) {
            return Err(ConfigError::key(
                "general.token_auth_secret",
                "must not be empty",
            ));
        }
        if self.http.enabled
            && self.websocket.enabled
            && self.http.port != 0
            && self.http.port == self.websocket.port
            && self.http.bind == self.websocket.bind
        {
            return Err(ConfigError::key(
                "transports.websocket.port",
                "same as transports.http.port",
            ));
        }
        if self.plugins.call_timeout_ms == 0 {
            return Err(ConfigError::key(
                "plugins.call_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.plugins.memory_limit_mib == 0 {
            return Err(ConfigError::key(
                "plugins.memory_limit_mib",
                "must be greater than 0",
            ));
        }
        if let Some(ip) = self.media.nat_1_1
            && (ip.is_unspecified() || ip.is_multicast())
        {
            return Err(ConfigError::key(
                "media.nat_1_1_mapping",
                format!("{ip} is not a usable public address"),
            ));
        }
        for ip in &self.media.interfaces {
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(ConfigError::key(
                    "media.interfaces",
                    format!("{ip} is not a usable interface address"),
                ));
            }
        }
        Ok(())
    }
}

/// `unknown field `x`, expected ...` → `x`.
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn parse_plugins(table: toml::Table) -> Result<PluginConfig, ConfigError> {
    let mut config = PluginConfig::default();
    for (key, value) in table {
        let path = format!("plugins.{key}");
        match key.as_str() {
            "dir" => {
                let dir = value
                    .as_str()
                    .ok_or_else(|| ConfigError::key(&path, "must be a string"))?;
                config.dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
            }
            "call_timeout_ms" => config.call_timeout_ms = positive_int(&path, &value)?,
            "memory_limit_mib" => config.memory_limit_mib = positive_int(&path, &value)?,
            "disable" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| ConfigError::key(&path, "must be an array of strings"))?;
                config.disable = list
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| ConfigError::key(&path, "must be an array of strings"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            // Anything else must be one plugin's section, named by its package.
            _ => {
                let toml::Value::Table(section) = value else {
                    return Err(ConfigError::key(
                        &path,
                        "unknown key (plugin sections are tables, e.g. [plugins.\"janus.plugin.echotest\"])",
                    ));
                };
                config
                    .settings
                    .insert(key, plugin_section::table_to_json(&section));
            }
        }
    }
    Ok(config)
}

fn positive_int(path: &str, value: &toml::Value) -> Result<u64, ConfigError> {
    match value.as_integer() {
        Some(n) if n > 0 => Ok(n as u64),
        _ => Err(ConfigError::key(path, "must be a positive integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str) -> String {
        match Config::parse(text) {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn empty_config_gives_janus_defaults() {
        let c = Config::parse("").expect("empty config");
        assert_eq!(c.general.session_timeout, 60);
        assert_eq!(c.general.candidates_timeout, 45);
        assert_eq!(c.general.reclaim_session_timeout, 0);
        assert_eq!(c.http.port, 8088);
        assert_eq!(c.http.base_path, "/janus");
        assert_eq!(c.websocket.port, 8188);
        assert_eq!(c.admin.http_port, 7088);
        assert_eq!(c.admin.ws_port, 7188);
        assert_eq!(c.media.no_media_timer, 1);
    }

    #[test]
    fn shipped_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
        let c = Config::load(&path).expect("config.toml must be valid");
        assert!(c.plugins.settings.contains_key("janus.plugin.echotest"));
        assert!(c.http.demos_dir.expect("demos dir").ends_with("demos"));
    }

    #[test]
    fn plugin_sections_become_json() {
        let c = Config::parse(
            "[plugins]\ncall_timeout_ms = 500\n[plugins.\"janus.plugin.echotest\"]\nrecord = false\nn = 3\n",
        )
        .expect("valid");
        assert_eq!(c.plugins.call_timeout_ms, 500);
        assert_eq!(
            c.plugins.settings["janus.plugin.echotest"],
            serde_json::json!({"record": false, "n": 3})
        );
    }

    #[test]
    fn syntax_error_is_reported() {
        assert!(matches!(
            Config::parse("[general\nx=1"),
            Err(ConfigError::Syntax(_))
        ));
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(
            key_of("[general]\nsesion_timeout = 3\n"),
            "general.sesion_timeout"
        );
        assert_eq!(key_of("[nonsense]\n"), "nonsense");
        assert_eq!(
            key_of("[transports.http]\nprot = 1\n"),
            "transports.http.prot"
        );
        assert_eq!(key_of("[plugins]\ntimeout = 1\n"), "plugins.timeout");
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            key_of("[transports.http]\nport = \"abc\"\n"),
            "transports.http.port"
        );
        assert_eq!(
            key_of("[general]\nsession_timeout = -1\n"),
            "general.session_timeout"
        );
        assert_eq!(key_of("[media]\nudp_port = 70000\n"), "media.udp_port");
        assert_eq!(
            key_of("[media]\ninterfaces = [\"nope\"]\n"),
            "media.interfaces[0]"
        );
        assert_eq!(key_of("[plugins]\ndisable = [1]\n"), "plugins.disable");
        assert_eq!(
            key_of("[plugins]\ncall_timeout_ms = 0\n"),
            "plugins.call_timeout_ms"
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            key_of("[transports.http]\nbase_path = \"janus\"\n"),
            "transports.http.base_path"
        );
        assert_eq!(
            key_of("[general]\ntoken_auth_secret = \"x\"\n"),
            "general.token_auth_secret"
        );
        assert_eq!(
            key_of("[general]\napi_secret = \"\"\n"),
            "general.api_secret"
        );
        assert_eq!(
            key_of("[media]\nnat_1_1_mapping = \"0.0.0.0\"\n"),
            "media.nat_1_1_mapping"
        );
        assert_eq!(
            key_of("[transports.websocket]\nport = 8088\n"),
            "transports.websocket.port"
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        assert!(matches!(
            Config::load(Path::new("/nonexistent/portunus.toml")),
            Err(ConfigError::Read { .. })
        ));
    }
}
