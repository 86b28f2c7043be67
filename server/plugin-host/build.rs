//! Builds the Wasm plugins of `plugins-wasm/` (their own cargo workspace) for
//! `wasm32-wasip2` and embeds the stock ones in this crate, so the release binary carries
//! them. The faulty test plugins are built too, but only their directory is exported (to
//! this crate's tests, as `PORTUNUS_TEST_PLUGINS_DIR`).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugins carried in the binary: crate names of `plugins-wasm/` members.
const STOCK: &[&str] = &[
    "portunus_echotest",
    "portunus_videoroom",
    "portunus_streaming",
];

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("server/plugin-host lives two levels below the workspace root")
        .to_path_buf();
    let plugins = root.join("plugins-wasm");
    let target_dir = root.join("target").join("plugins-wasm");

    println!("cargo:rerun-if-changed=build.rs");
    // A directory here makes cargo rerun on a change of any file below it.
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    check_target_installed();
    build_plugins(&plugins, &target_dir);

    let out_dir = target_dir.join(WASM_TARGET).join("release");
    println!(
        "cargo:rustc-env=PORTUNUS_TEST_PLUGINS_DIR={}",
        out_dir.display()
    );
    write_stock_table(&out_dir);
}

/// Fails early, with the fix, when the Wasm target's standard library is missing.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = sysroot {
        let lib = sysroot.join("lib").join("rustlib").join(WASM_TARGET);
        if !lib.is_dir() {
            panic!(
                "\n\nThe Rust target {WASM_TARGET} is not installed; the plugins in plugins-wasm/ \
                 need it.\nInstall it with:\n\n    rustup target add {WASM_TARGET}\n\n"
            );
        }
    }
}

fn build_plugins(plugins: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args(["build", "--release", "--target", WASM_TARGET, "--workspace"])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings would break (or slow) the nested one: clippy's wrapper,
    // host-only rustflags, a target dir or target of the outer build, its jobserver.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let strip = matches!(
            key,
            "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "CARGO_ENCODED_RUSTDOCFLAGS"
                | "CARGO_TARGET_DIR"
                | "CARGO_BUILD_TARGET"
                | "CARGO_BUILD_TARGET_DIR"
                | "CARGO_BUILD_RUSTC_WRAPPER"
                | "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER"
                | "CARGO_MAKEFLAGS"
                | "MAKEFLAGS"
                | "MFLAGS"
                | "CARGO_LLVM_COV"
                | "CARGO_LLVM_COV_TARGET_DIR"
                | "LLVM_PROFILE_FILE"
                | "__CARGO_FIX_PLZ"
                | "CARGO_PRIMARY_PACKAGE"
        ) || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_MANIFEST_");
        if strip {
            cmd.env_remove(key);
        }
    }
    // Our stdout is read by cargo as build directives: keep the nested build's off it.
    cmd.stdout(std::process::Stdio::from(std::io::stderr()));
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run cargo to build the Wasm plugins in {}: {e}",
            plugins.display()
        )
    });
    if !status.success() {
        panic!(
            "\n\nBuilding the Wasm plugins failed (cargo build --release --target {WASM_TARGET} in {}).\n\
             See the errors above. If they mention a missing `core`/`std` for {WASM_TARGET}, run:\n\n    \
             rustup target add {WASM_TARGET}\n\n",
            plugins.display()
        );
    }
}

fn write_stock_table(wasm_dir: &Path) {
    let mut src = String::from(
        "/// The stock plugins: (file name, component bytes), built from plugins-wasm/.\n\
         pub static STOCK_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for name in STOCK {
        let file = wasm_dir.join(format!("{name}.wasm"));
        assert!(
            file.is_file(),
            "the plugin build did not produce {}",
            file.display()
        );
        writeln!(
            src,
            "    ({:?}, include_bytes!({:?})),",
            format!("{name}.wasm"),
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    src.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("stock_plugins.rs");
    std::fs::write(&out, src).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
