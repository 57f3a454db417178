//! Pagination of weft's own lists with opaque cursors.
//!
//! A cursor names an offset, hex-encoded. A cursor from an older catalog
//! still works (it is an offset), so a client paging while the catalog
//! changes gets a consistent-enough walk and a `list_changed` notification
//! to start again.
//!
//! A page is cut by count (`[settings] page_size`) and by size
//! (`page_bytes`, 64 KiB by default): a client then parses a 5,000-tool
//! catalog a page at a time instead of megabytes at once. Sizes are
//! counted by serialising each item of the page into a counter, not into a
//! buffer; only the items of the page being cut are counted.

use rmcp::model::ErrorData;
use serde::Serialize;

/// How much one page of a list may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// At most this many items.
    pub items: usize,
    /// At most this many bytes of serialised items, unless the first item
    /// alone is larger (a page always holds one).
    pub bytes: usize,
}

/// Cuts one page out of `items`, which it consumes: no item is copied
/// (a 5,000-tool list is one page of moved values, not of clones).
pub fn page<T: Serialize>(
    mut items: Vec<T>,
    cursor: Option<&str>,
    limit: PageLimit,
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
    let most = (start + limit.items.max(1)).min(items.len());
    let mut end = start;
    let mut used = 0usize;
    for item in &items[start..most] {
        // Each item is followed by a comma in the array.
        used = used.saturating_add(serialised_len(item).saturating_add(1));
        if end > start && used > limit.bytes {
            break;
        }
        end += 1;
    }
    let next = (end < items.len()).then(|| encode(end));
    items.truncate(end);
    if start > 0 {
        items.drain(..start);
    }
    Ok((items, next))
}

/// The length of `item` as compact JSON, written to nowhere.
fn serialised_len<T: Serialize>(item: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // An item that does not serialise is as good as empty here: the
    // answer's own serialisation reports it.
    let _ = serde_json::to_writer(&mut count, item);
    count.0
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
        assert_eq!(walk(&items, by_count(3)), items);
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        let items = [1, 2, 3];
        for bad in ["", "zz", "w1zz", "12"] {
            let e = page(items.to_vec(), Some(bad), by_count(2)).expect_err(bad);
            assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
        let far = encode(99);
        assert!(page(items.to_vec(), Some(&far), by_count(2)).is_err());
    }

    /// Every page of `items` under `limit`, joined.
    fn walk<T: Clone + Serialize>(items: &[T], limit: PageLimit) -> Vec<T> {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (chunk, next) = page(items.to_vec(), cursor.as_deref(), limit).expect("page");
            seen.extend(chunk);
            match next {
                Some(n) => cursor = Some(n),
                None => return seen,
            }
        }
    }

    fn by_count(items: usize) -> PageLimit {
        PageLimit {
            items,
            bytes: usize::MAX,
        }
    }

    #[test]
    fn a_page_ends_before_the_item_that_would_pass_its_bytes() {
        // Each string serialises to 12 bytes ("aaaaaaaaaa" and quotes),
        // 13 with its comma.
        let items: Vec<String> = (0..10).map(|_| "a".repeat(10)).collect();
        let limit = PageLimit {
            items: 100,
            bytes: 40,
        };
        let (first, next) = page(items.clone(), None, limit).expect("page");
        assert_eq!(first.len(), 3);
        let (second, _) = page(items.clone(), next.as_deref(), limit).expect("page");
        assert_eq!(second.len(), 3);
        // Whichever limit comes first ends the page.
        let (by_items, _) = page(
            items.clone(),
            None,
            PageLimit {
                items: 2,
                bytes: 40,
            },
        )
        .expect("page");
        assert_eq!(by_items.len(), 2);
        // A walk sees every item once, in order.
        assert_eq!(walk(&items, limit), items);
    }

    #[test]
    fn an_item_larger_than_a_page_is_a_page_of_its_own() {
        let items = vec!["x".repeat(5000), "y".to_string(), "z".to_string()];
        let limit = PageLimit {
            items: 100,
            bytes: 1024,
        };
        let (first, next) = page(items.clone(), None, limit).expect("page");
        assert_eq!(first, vec!["x".repeat(5000)]);
        let (rest, next) = page(items, next.as_deref(), limit).expect("page");
        assert_eq!(rest, vec!["y".to_string(), "z".to_string()]);
        assert_eq!(next, None);
    }
}
