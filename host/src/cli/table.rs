//! Plain-text tables for terminal output.

/// Prints rows as left-aligned columns; the last column is not padded and
/// is cut to fit `width` when given.
pub fn print(headers: &[&str], rows: &[Vec<String>], width: Option<usize>) {
    crate::out!("{}", render(headers, rows, width));
}

/// The text [`print`] prints, each line ended.
pub fn render(headers: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        match width {
            Some(w) if out.chars().count() > w => {
                let mut cut: String = out.chars().take(w.saturating_sub(1)).collect();
                cut.push('…');
                cut
            }
            _ => out,
        }
    };
    let mut text = line(headers.to_vec());
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    text
}

/// The terminal width, if stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(120))
}

/// The first line of a text, for one-line summaries.
pub fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}
