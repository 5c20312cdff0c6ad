//! Log setup: env_logger (`RUST_LOG`, default `info,may=warn`) in the original apiphant's shape,
//! `INFO at module:line [2026-11-21 16:02:51,466] message`, on stderr.

use std::fmt::Write as _;
use std::io::Write;

/// Installs the logger once; later calls do nothing.
pub fn init() {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,may=warn"),
    );
    builder.format(|out, record| {
        let time = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S,%3f");
        let module = record.module_path().unwrap_or_else(|| record.target());
        match record.line() {
            Some(line) => writeln!(
                out,
                "{} at {module}:{line} [{time}] {}",
                record.level(),
                record.args()
            ),
            None => writeln!(
                out,
                "{} at {module} [{time}] {}",
                record.level(),
                record.args()
            ),
        }
    });
    let _ = builder.try_init();
}

/// Client- or plugin-supplied bytes, escaped for a log line, as [`std::fmt::Display`]
/// (no allocation): nothing in them can end the line, forge another, or disguise what it
/// shows. Printable ASCII and printable non-ASCII text are kept; a quote and a backslash
/// in a field get a backslash; `\n`, `\r`, `\t` are written so; other C0 controls, DEL, C1 controls
/// (U+0080 to U+009F, NEL among them), bidirectional controls (U+061C, U+200E, U+200F,
/// U+202A to U+202E, U+2066 to U+2069), the line and paragraph separators and bytes that
/// are not UTF-8 are written `\x1b`, `\u{202e}`, `\xff`.
///
/// [`escape`] is for one field (a request target, a header value): a newline is `\n`.
/// [`escape_lines`] is for plugin text with lines of its own (a panic report, a task's
/// traceback): each line escaped, kept on its own line, indented if asked (the server's
/// continuation lines are, so none can pass for a log record of its own).
#[derive(Clone, Copy)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    /// What a newline is written as.
    newline: &'a str,
    /// One field (of a line that quotes fields): quotes and backslashes escaped too.
    field: bool,
}

/// `bytes` escaped as one log field: see [`Escaped`].
pub fn escape(bytes: &[u8]) -> Escaped<'_> {
    Escaped {
        bytes,
        newline: "\\n",
        field: true,
    }
}

/// `text` escaped line by line; with `indented`, each line after the first starts with
/// four spaces: see [`Escaped`].
pub fn escape_lines(text: &str, indented: bool) -> Escaped<'_> {
    Escaped {
        bytes: text.as_bytes(),
        newline: if indented { "\n    " } else { "\n" },
        field: false,
    }
}

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Fast path: nothing to escape (the usual request target).
        if self.bytes.iter().all(|&b| is_plain(b, self.field)) {
            // Plain bytes are ASCII, so UTF-8.
            return f.write_str(std::str::from_utf8(self.bytes).unwrap_or_default());
        }
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' if self.field => f.write_str("\\\"")?,
                    '\\' if self.field => f.write_str("\\\\")?,
                    '\n' => f.write_str(self.newline)?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    '\0'..='\x1f' | '\x7f' => write!(f, "\\x{:02x}", u32::from(c))?,
                    c if is_disguising(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                    c => f.write_char(c)?,
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Printable ASCII that needs no escape (in a `field`: nor a quote or a backslash).
fn is_plain(byte: u8, field: bool) -> bool {
    (0x20..0x7f).contains(&byte) && !(field && (byte == b'"' || byte == b'\\'))
}

/// Characters that change how a line reads without being seen: C1 controls, bidirectional
/// controls, line and paragraph separators.
fn is_disguising(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_quotes_and_bidi_are_escaped() {
        let shown = |bytes: &[u8]| escape(bytes).to_string();
        assert_eq!(shown(b"/api/v0/echo/read?q=1"), "/api/v0/echo/read?q=1");
        assert_eq!(
            shown("/a\u{85}b\u{202e}c\"d\ne\\".as_bytes()),
            "/a\\u{85}b\\u{202e}c\\\"d\\ne\\\\"
        );
        assert_eq!(shown(b"\x1b[31m\x7f\xff\r\t"), "\\x1b[31m\\x7f\\xff\\r\\t");
        assert_eq!(
            shown("caf\u{e9} \u{2066}x\u{2069}".as_bytes()),
            "caf\u{e9} \\u{2066}x\\u{2069}"
        );
        assert_eq!(
            escape_lines("panicked at a.rs:1:1:\nbad \u{1b}\n   0: f", false).to_string(),
            "panicked at a.rs:1:1:\nbad \\x1b\n   0: f"
        );
        assert_eq!(
            escape_lines("panicked:\nERROR at forged", true).to_string(),
            "panicked:\n    ERROR at forged"
        );
    }
}
