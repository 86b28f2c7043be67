//! A plugin's stdout and stderr: lines go to `tracing`, tagged with the plugin, instead of
//! the server's own terminal.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept before it is logged anyway (a plugin printing without newlines must
/// not grow the host's memory).
const MAX_LINE: usize = 4096;

#[derive(Clone)]
pub struct LogStream {
    plugin: Arc<str>,
    stderr: bool,
}

impl LogStream {
    pub fn new(plugin: Arc<str>, stderr: bool) -> LogStream {
        LogStream { plugin, stderr }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogWriter {
            stream: self.clone(),
            line: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASI preview 3 guests use this; portunus links preview 2.
        Box::new(tokio::io::sink())
    }
}

struct LogWriter {
    stream: LogStream,
    line: Vec<u8>,
}

impl LogWriter {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if !text.is_empty() {
            let plugin = &*self.stream.plugin;
            if self.stream.stderr {
                tracing::warn!(target: "portunus::plugin", plugin, "stderr: {text}");
            } else {
                tracing::info!(target: "portunus::plugin", plugin, "stdout: {text}");
            }
        }
        self.line.clear();
    }
}

impl OutputStream for LogWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        for &b in bytes.iter() {
            if b == b'\n' {
                self.emit();
            } else {
                self.line.push(b);
                if self.line.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogWriter {
    async fn ready(&mut self) {}
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.emit();
    }
}
