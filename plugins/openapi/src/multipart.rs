//! A `multipart/form-data` body (RFC 7578) from a tool's argument: one
//! part per field. A field's value is
//! - a string: a text part (a file part named after the field, for a
//!   field the document says is a file);
//! - `{"content": "...", "filename": "a.txt", "content_type": "text/plain"}`:
//!   a file part (`content_base64` instead of `content` for bytes that
//!   are not text);
//! - a list: one part per item, under the same name;
//! - anything else: a part holding its JSON, typed `application/json`.

use serde_json::{Map, Value};

/// Writes the parts of `fields` (those named in `files` as file parts);
/// returns the boundary and the body.
pub fn write(fields: &Map<String, Value>, files: &[String]) -> Result<(String, Vec<u8>), String> {
    let boundary = format!("weft-{:016x}", wasip2::random::random::get_random_u64());
    let mut body = Vec::new();
    for (name, value) in fields {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Null => continue,
            v => vec![v],
        };
        for item in items {
            part(&mut body, &boundary, name, item, files.contains(name))?;
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((boundary, body))
}

/// A name or file name as a quoted header parameter: no line breaks, `"`
/// and `\` escaped away (as browsers do, percent-encoded).
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .map(|c| match c {
            '"' => "%22".to_string(),
            '\\' => "%5C".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn part(
    body: &mut Vec<u8>,
    boundary: &str,
    name: &str,
    value: &Value,
    file: bool,
) -> Result<(), String> {
    let (filename, content_type, bytes) = match value {
        Value::String(s) if file => (
            Some(name.to_string()),
            Some("application/octet-stream".to_string()),
            s.clone().into_bytes(),
        ),
        Value::String(s) => (None, None, s.clone().into_bytes()),
        Value::Object(file)
            if file.contains_key("content") || file.contains_key("content_base64") =>
        {
            let bytes = match (file.get("content"), file.get("content_base64")) {
                (Some(Value::String(text)), None) => text.clone().into_bytes(),
                (None, Some(Value::String(b64))) => decode_base64(b64)
                    .ok_or_else(|| format!("the field {name:?}: `content_base64` is not base64"))?,
                _ => {
                    return Err(format!(
                        "the field {name:?}: give a file as `content` (text) or `content_base64`, one of them, as a string"
                    ));
                }
            };
            let filename = file
                .get("filename")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_string();
            let content_type = file
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string();
            (Some(filename), Some(content_type), bytes)
        }
        other => (
            None,
            Some("application/json".to_string()),
            other.to_string().into_bytes(),
        ),
    };
    let mut head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"",
        quoted(name)
    );
    if let Some(f) = filename {
        head.push_str(&format!("; filename=\"{}\"", quoted(&f)));
    }
    head.push_str("\r\n");
    if let Some(t) = content_type {
        let t: String = t.chars().filter(|c| !c.is_control()).collect();
        head.push_str(&format!("Content-Type: {t}\r\n"));
    }
    head.push_str("\r\n");
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(&bytes);
    body.extend_from_slice(b"\r\n");
    Ok(())
}

/// Standard base64, with or without padding, or `None`.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(compact.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reads_with_and_without_padding() {
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("AAEC/w=="), Some(vec![0, 1, 2, 255]));
        assert_eq!(decode_base64("a*b"), None);
    }

    #[test]
    fn names_cannot_break_out_of_their_header() {
        assert_eq!(quoted("a\"b\r\nc\\d"), "a%22bc%5Cd");
    }
}
