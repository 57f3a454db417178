//! Pagination of weft's own lists with opaque cursors.
//!
//! A cursor names the catalog generation and an offset, hex-encoded. A
//! cursor from an older catalog still works (it is an offset), so a client
//! paging while the catalog changes gets a consistent-enough walk and a
//! `list_changed` notification to start again.

use rmcp::model::ErrorData;

/// Cuts one page out of `items`, which it consumes: no item is copied
/// (a 5,000-tool list is one page of moved values, not of clones).
pub fn page<T>(
    mut items: Vec<T>,
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match cursor {
        None => 0,
        Some(c) => decode(c).ok_or_else(|| {
            ErrorData::invalid_params(
                format!("invalid cursor {c:?}: pass back a nextCursor weft gave you"),
                None,
            )
        })?,
    };
    if start > items.len() {
        return Err(ErrorData::invalid_params(
            "the cursor is past the end of the list (it changed); list again from the start",
            None,
        ));
    }
    let size = size.max(1);
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| encode(end));
    items.truncate(end);
    if start > 0 {
        items.drain(..start);
    }
    Ok((items, next))
}

fn encode(offset: usize) -> String {
    format!("w1{:08x}", (offset as u64) ^ 0x5eed_5eed)
}

fn decode(cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix("w1")?;
    let raw = u64::from_str_radix(hex, 16).ok()?;
    usize::try_from(raw ^ 0x5eed_5eed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (chunk, next) = page(items.clone(), cursor.as_deref(), 3).expect("page");
            seen.extend(chunk);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        let items = [1, 2, 3];
        for bad in ["", "zz", "w1zz", "12"] {
            let e = page(items.to_vec(), Some(bad), 2).expect_err(bad);
            assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
        let far = encode(99);
        assert!(page(items.to_vec(), Some(&far), 2).is_err());
    }
}
