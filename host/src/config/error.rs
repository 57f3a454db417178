//! [`ConfigError`]: a configuration problem, tied to the file, the line and
//! column, and the key it is about.
//!
//! Errors are made where the problem is found, knowing only the key path
//! (`servers.git.timeout`); [`ConfigError::locate`] then finds where that
//! key is written. The file is parsed a second time for that, with spans,
//! only when there is an error, so loading a good config costs nothing
//! more.

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate;

/// The key of an error about the whole file rather than one key.
pub(crate) const WHOLE_FILE: &str = "(file)";

/// A place in a config file, both counted from 1; the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, counted from 1.
    pub line: usize,
    /// The column in characters, counted from 1.
    pub column: usize,
}

impl Position {
    /// The position of a byte offset into `text` (clamped to its length).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// A configuration problem, always tied to the file and key it is about:
/// `weft.toml:12:5: servers.fs: unknown key "comand"; did you mean "command"?`
#[derive(Debug)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The key path, like `servers.git.command`, or `(file)` for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
    /// Where in the file, or what to look for there.
    place: Place,
}

/// Where an error is, as far as it is known: one field, to keep the error
/// small.
#[derive(Debug)]
enum Place {
    /// Not found yet; `key` says where to look.
    Key,
    /// Not found yet; look for this key path, more precise than `key` (an
    /// unknown key is reported on its table, but found by its own name).
    Written(String),
    At(Position),
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position() {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if self.key != WHOLE_FILE {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(crate) fn new(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            message: message.into(),
            hint: None,
            place: Place::Key,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Where in the file the problem is, when it is known.
    pub fn position(&self) -> Option<Position> {
        match self.place {
            Place::At(p) => Some(p),
            _ => None,
        }
    }

    /// Sets where the problem is.
    pub(crate) fn at(mut self, position: Position) -> Self {
        self.place = Place::At(position);
        self
    }

    /// Sets where the problem is, as a byte offset into `text`.
    pub(crate) fn at_offset(self, text: &str, offset: usize) -> Self {
        self.at(Position::of_offset(text, offset))
    }

    /// Reports the error on `key` but places it at `written`, a key path
    /// that is more precise (the unknown key inside the table `key`).
    pub(crate) fn written_at(mut self, written: impl Into<String>) -> Self {
        self.place = Place::Written(written.into());
        self
    }

    /// An unknown key `field` in the table `key`, with the closest of the
    /// keys it could have been, or the list of them.
    pub(crate) fn unknown_key(file: &Path, key: &str, field: &str, expected: &[&str]) -> Self {
        let shown = shorten(field);
        let (what, written) = if key == WHOLE_FILE {
            ("section", field.to_string())
        } else {
            ("key", format!("{key}.{field}"))
        };
        let error = match crate::util::closest(field, expected.iter().copied()) {
            Some(near) => ConfigError::new(
                file,
                key,
                format!("unknown {what} {shown:?}; did you mean {near:?}?"),
            ),
            None => ConfigError::new(file, key, format!("unknown {what} {shown:?}"))
                .hint(format!("the {what}s here are {}", expected.join(", "))),
        };
        error.written_at(written)
    }

    /// Finds where the key the error is about is written in `text` (TOML,
    /// or JSON when `json`), unless the position is already known.
    pub(crate) fn locate(self, text: &str, json: bool) -> Self {
        let path = match &self.place {
            Place::At(_) => return self,
            Place::Written(path) => path,
            Place::Key => &self.key,
        };
        if path == WHOLE_FILE {
            return self;
        }
        let offset = if json {
            locate::in_json(text, path)
        } else {
            locate::in_toml(text, path)
        };
        match offset {
            Some(offset) => self.at_offset(text, offset),
            None => self,
        }
    }
}

/// A name as shown in a message: at most 64 characters.
fn shorten(name: &str) -> String {
    let mut s = name.to_string();
    crate::util::truncate(&mut s, 64);
    s
}
