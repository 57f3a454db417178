//! Any text as an adapter's request URL, under an allow-list read from
//! the input's first lines (or a fixed one): the egress check never
//! panics, and a URL it allows keeps every promise of
//! `Target::verify` (listed; public unless an entry names the address;
//! no dot segment or credentials; sent exactly as checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (entries, url) = weft::sandbox::egress::split_case(text);
    let Ok(config) = weft::config::EgressConfig::from_entries(&entries) else { return };
    if let Ok(target) = weft::sandbox::egress::check(&config, url) {
        if let Err(why) = target.verify(&config) {
            panic!("allowed {url:?} under {entries:?}, but: {why}");
        }
    }
});
