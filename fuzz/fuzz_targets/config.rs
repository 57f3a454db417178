//! Any text as a config file, TOML or Claude-Desktop JSON: it loads or
//! fails with a `ConfigError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = weft::Config::from_str(text, std::path::Path::new("/nonexistent/fuzz/weft.toml"));
    }
});
