//! `multipart/form-data` (RFC 7578 over RFC 2046 §5.1) for raw-request actions, parsed in
//! place over the body the server has already buffered: the body is searched, never copied,
//! and each part's bytes are copied once into its [`Part`], so a form costs at most its body
//! again (about 2x the body at peak, with the server's copy). Bounded: how many parts, how
//! long a part's name, how large a part's headers ([`MultipartLimits`]).
//!
//! Our own code rather than `multer` (3.1): multer is a streaming parser for async bodies;
//! over a buffered body it needs the body copied into its stream, buffers each field again
//! and hands back `Bytes` the caller copies a third time (about 6x the body at peak,
//! measured), and it has no limit on the part count or a part name's length.

use crate::error::ApiError;
use crate::raw::RawRequest;

/// One part of a form: a field or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's `name`.
    pub name: String,
    /// The part's `filename`, for files.
    pub file_name: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// A parsed form, parts in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// All parts as received.
    pub parts: Vec<Part>,
}

impl Form {
    /// The first part named `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|part| part.name == name)
    }

    /// A text field's value (UTF-8).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.part(name)
            .and_then(|part| std::str::from_utf8(&part.data).ok())
    }
}

/// The bounds of a form (docs/limits.md, "Multipart forms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Most parts in a form: 413 beyond.
    pub max_parts: usize,
    /// Most bytes of a part's `name` (and `filename`): 400 beyond.
    pub max_name_bytes: usize,
    /// Most bytes of one part's header lines: 400 beyond.
    pub max_header_bytes: usize,
}

impl Default for MultipartLimits {
    /// 256 parts, names of 256 bytes, 8 KiB of headers per part.
    fn default() -> Self {
        MultipartLimits {
            max_parts: 256,
            max_name_bytes: 256,
            max_header_bytes: 8 * 1024,
        }
    }
}

/// The 400 for a body that is not a form.
pub const NOT_MULTIPART: &str = "Request content should be multipart/form-data";

impl RawRequest<'_> {
    /// Parses a `multipart/form-data` body under the default [`MultipartLimits`]. A missing
    /// or wrong `Content-Type`, or a malformed body, is a 400
    /// `{"error": "Request content should be multipart/form-data"}`; a limit passed is a
    /// 413 (parts) or 400 (a name, a part's headers) saying which.
    pub fn multipart(&self) -> Result<Form, ApiError> {
        self.multipart_limited(MultipartLimits::default())
    }

    /// [`RawRequest::multipart`] under `limits`.
    pub fn multipart_limited(&self, limits: MultipartLimits) -> Result<Form, ApiError> {
        let content_type = self.header("content-type").ok_or_else(bad)?;
        let boundary = boundary(content_type).ok_or_else(bad)?;
        parse(self.body, boundary.as_bytes(), limits)
    }
}

fn bad() -> ApiError {
    ApiError::bad_request(NOT_MULTIPART)
}

/// The `boundary` parameter of a `multipart/form-data` type (RFC 2046 §5.1.1: 1 to 70
/// characters), unquoted.
fn boundary(content_type: &str) -> Option<String> {
    let mut params = split_params(content_type);
    let media_type = params.next()?;
    if !media_type
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    let value = params.find_map(|param| param_value(param, "boundary"))?;
    (1..=70).contains(&value.len()).then_some(value)
}

/// `a; b; c`, splitting on `;` outside quoted strings.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (at, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&text[at + 1..]);
                    return Some(&text[..at]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// The value of `param` if it is `name=value` (name case-insensitive), unquoted.
fn param_value(param: &str, name: &str) -> Option<String> {
    let (key, value) = param.split_once('=')?;
    if !key.trim().eq_ignore_ascii_case(name) {
        return None;
    }
    let value = value.trim();
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) => {
            let mut out = String::with_capacity(quoted.len());
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            Some(out)
        }
        None => Some(value.to_owned()),
    }
}

/// Where `needle` first occurs in `haystack` from `from` on.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let next = haystack[at..].iter().position(|&b| b == first)? + at;
        if haystack.get(next..next + needle.len()) == Some(needle) {
            return Some(next);
        }
        at = next + 1;
    }
    None
}

/// Parses a whole form whose parts are separated by `--boundary`.
fn parse(body: &[u8], boundary: &[u8], limits: MultipartLimits) -> Result<Form, ApiError> {
    // Every delimiter but a first one at the very start is preceded by CRLF.
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary);
    let mut at = if body.starts_with(&delimiter[2..]) {
        delimiter.len() - 2
    } else {
        // A preamble before the first delimiter is ignored (RFC 2046 §5.1.1).
        find(body, &delimiter, 0).ok_or_else(bad)? + delimiter.len()
    };
    let mut form = Form::default();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        // Transport padding (linear whitespace) may follow a delimiter, then CRLF.
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err(bad());
        }
        at += padding + 2;
        if form.parts.len() == limits.max_parts {
            let message = format!(
                "multipart/form-data has more than {} parts",
                limits.max_parts
            );
            return Err(ApiError::new(413, message));
        }
        // Header lines, then an empty line (right away for a part without headers).
        let (headers, data_start) = if body[at..].starts_with(b"\r\n") {
            (&body[at..at], at + 2)
        } else {
            let end = find(body, b"\r\n\r\n", at).ok_or_else(bad)?;
            (&body[at..end], end + 4)
        };
        if headers.len() > limits.max_header_bytes {
            let message = format!(
                "a multipart/form-data part's headers are over {} bytes",
                limits.max_header_bytes
            );
            return Err(ApiError::bad_request(message));
        }
        let mut part = part_of(headers, limits)?;
        let data_end = find(body, &delimiter, data_start).ok_or_else(bad)?;
        part.data = body[data_start..data_end].to_vec();
        form.parts.push(part);
        at = data_end + delimiter.len();
    }
}

/// A part's name, file name and type from its header lines (its data comes after).
fn part_of(headers: &[u8], limits: MultipartLimits) -> Result<Part, ApiError> {
    let mut part = Part {
        name: String::new(),
        file_name: None,
        content_type: None,
        data: Vec::new(),
    };
    let headers = std::str::from_utf8(headers).map_err(|_| bad())?;
    for line in headers.split("\r\n").filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            let mut params = split_params(value);
            if params.next().map(str::trim) != Some("form-data") {
                return Err(bad());
            }
            for param in params {
                if let Some(value) = param_value(param, "name") {
                    part.name = value;
                } else if let Some(value) = param_value(param, "filename") {
                    part.file_name = Some(value);
                }
            }
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.trim().to_owned());
        }
    }
    let longest = part
        .name
        .len()
        .max(part.file_name.as_ref().map_or(0, String::len));
    if longest > limits.max_name_bytes {
        let message = format!(
            "a multipart/form-data part's name is over {} bytes",
            limits.max_name_bytes
        );
        return Err(ApiError::bad_request(message));
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str, limits: MultipartLimits) -> Result<Form, ApiError> {
        parse(body.as_bytes(), b"XyZ", limits)
    }

    #[test]
    fn parts_fields_and_files_with_padding_and_a_preamble() {
        let body = "preamble\r\n--XyZ  \r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ1\r\n--XyZ\r\ncontent-disposition: form-data; name=\"f\"; filename=\"a \\\"b\\\".csv\"\r\nContent-Type: text/csv\r\n\r\nx,y\r\n--\r\n--XyZ--\r\nepilogue";
        let form = parsed(body, MultipartLimits::default()).expect("a form");
        assert_eq!(form.text("title"), Some("Q1"));
        let file = form.part("f").expect("file");
        assert_eq!(file.file_name.as_deref(), Some("a \"b\".csv"));
        assert_eq!(file.content_type.as_deref(), Some("text/csv"));
        assert_eq!(file.data, b"x,y\r\n--");
        let empty = parsed("--XyZ\r\n\r\n\r\n--XyZ--", MultipartLimits::default());
        assert_eq!(empty.expect("a part without headers").parts[0].data, b"");
    }

    #[test]
    fn malformed_forms_are_400() {
        for body in [
            "",
            "--XyZ",
            "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
            "--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
            "--XyZ\r\nno colon\r\n\r\nx\r\n--XyZ--",
            "--XyZx\r\n\r\nx\r\n--XyZ--",
        ] {
            let error = parsed(body, MultipartLimits::default()).expect_err(body);
            assert_eq!(error.status_code(), 400, "{body}");
            assert_eq!(error.error_value(), NOT_MULTIPART, "{body}");
        }
    }

    #[test]
    fn limits_on_parts_names_and_headers() {
        let limits = MultipartLimits {
            max_parts: 2,
            max_name_bytes: 4,
            max_header_bytes: 64,
        };
        let part = |name: &str| {
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nv\r\n")
        };
        let two = format!("{}{}--XyZ--", part("a"), part("b"));
        assert_eq!(parsed(&two, limits).expect("two parts").parts.len(), 2);
        let three = format!("{}{}{}--XyZ--", part("a"), part("b"), part("c"));
        assert_eq!(
            parsed(&three, limits).expect_err("3 parts").status_code(),
            413
        );
        let long = format!("{}--XyZ--", part("abcde"));
        let error = parsed(&long, limits).expect_err("long name");
        assert_eq!(error.status_code(), 400);
        assert!(error.error_value().to_string().contains("name is over 4"));
        let padded = format!("--XyZ\r\nX-Pad: {}\r\n\r\nv\r\n--XyZ--", "p".repeat(64));
        let error = parsed(&padded, limits).expect_err("big headers");
        assert!(error
            .error_value()
            .to_string()
            .contains("headers are over 64"));
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; Boundary=\"a;b c\"").as_deref(),
            Some("a;b c")
        );
        assert_eq!(boundary("text/plain; boundary=abc"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            None
        );
    }
}
