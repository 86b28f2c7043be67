//! portunus: a WebRTC gateway with the Janus API, whose features are WebAssembly plugins.
