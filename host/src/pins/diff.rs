//! A pin's trusted definition beside the one listed now, as a unified
//! diff of their pretty-printed JSON, for `weft pins diff` and the console.

use super::Def;

/// The lines that differ between `old` and `new`, with three lines of
/// context: `-` for the pinned text, `+` for the listed one.
pub fn diff(old: Option<&Def>, new: &Def) -> String {
    let pretty = |d: &Def| {
        serde_json::from_str::<serde_json::Value>(&d.text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            // A definition cut at the cap is not JSON: show it as kept.
            .unwrap_or_else(|| d.text.clone())
    };
    let before = old.map(pretty).unwrap_or_default();
    let after = pretty(new);
    let pinned = old.map_or("(nothing pinned)".to_string(), |d| d.digest.clone());
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("pinned {pinned}"),
            &format!("listed {}", new.digest),
        )
        .to_string()
}
