//! A resumable decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1),
//! bounded by the body limit, strict to the grammar: a chunk-size of hex digits only, chunk
//! extensions `;` token [`=` token / quoted-string] with optional whitespace around `;`
//! and `=`, every line ended by CRLF (a bare LF or a bare CR is 400). It consumes bytes from the read buffer as they arrive
//! and appends the decoded data, so a body is never parsed as the next request.

/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Decoder state for one body.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: State,
    trailer_bytes: usize,
}

/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// 400: malformed chunk framing.
    Bad,
    /// 413: decoded body over the limit.
    TooLarge,
}

impl Chunked {
    pub(crate) fn new() -> Self {
        Chunked {
            state: State::Size,
            trailer_bytes: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what `input` holds; returns how many bytes were consumed.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: u64,
    ) -> Result<usize, ChunkError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Size => {
                    let Some(line) = line(rest)? else {
                        return Ok(pos);
                    };
                    pos += line.len() + 2;
                    let size = parse_size_line(line)?;
                    if out.len() as u64 + size > max_body {
                        return Err(ChunkError::TooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailer
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..take]);
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd
                    } else {
                        State::Data(remaining)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ChunkError::Bad);
                    }
                    pos += 2;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(line) = line(rest)? else {
                        return Ok(pos);
                    };
                    pos += line.len() + 2;
                    self.trailer_bytes += line.len() + 2;
                    if self.trailer_bytes > MAX_LINE * 4 {
                        return Err(ChunkError::Bad);
                    }
                    if line.is_empty() {
                        self.state = State::Done;
                    } else if !is_field_line(line) {
                        return Err(ChunkError::Bad);
                    }
                }
            }
        }
    }
}

/// The next CRLF-terminated line (without the CRLF), `None` if incomplete; a bare LF or
/// a bare CR in it is an error.
fn line(input: &[u8]) -> Result<Option<&[u8]>, ChunkError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(end) if end <= MAX_LINE + 1 => match input[..end].strip_suffix(b"\r") {
            Some(line) if !line.contains(&b'\r') => Ok(Some(line)),
            _ => Err(ChunkError::Bad),
        },
        Some(_) => Err(ChunkError::Bad),
        None if input.len() > MAX_LINE => Err(ChunkError::Bad),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1.1): hex digits, then each extension as
/// `BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ]`; nothing else.
fn parse_size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let size = parse_hex(&line[..digits])?;
    let mut rest = &line[digits..];
    let skip_space = |bytes: &[u8]| -> usize {
        bytes
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()
    };
    while !rest.is_empty() {
        rest = &rest[skip_space(rest)..];
        rest = rest.strip_prefix(b";").ok_or(ChunkError::Bad)?;
        rest = &rest[skip_space(rest)..];
        let name = token_len(rest);
        if name == 0 {
            return Err(ChunkError::Bad);
        }
        rest = &rest[name..];
        let spaces = skip_space(rest);
        if rest[spaces..].first() == Some(&b'=') {
            rest = &rest[spaces + 1..];
            rest = &rest[skip_space(rest)..];
            let value = match rest.first() {
                Some(b'"') => quoted_len(rest)?,
                _ => token_len(rest),
            };
            if value == 0 {
                return Err(ChunkError::Bad);
            }
            rest = &rest[value..];
        }
    }
    Ok(size)
}

/// How many bytes at the start of `bytes` are token characters.
fn token_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&b| apiphant_sdk::is_token_byte(b))
        .count()
}

/// The length of the quoted-string at the start of `bytes` (RFC 9110 §5.6.4): `"`, then
/// visible characters, spaces, tabs, obs-text or backslash pairs, then `"`.
fn quoted_len(bytes: &[u8]) -> Result<usize, ChunkError> {
    let mut at = 1;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => return Ok(at + 1),
            b'\\' => match bytes.get(at + 1) {
                Some(&next) if next == b'\t' || next >= 0x20 && next != 0x7f => at += 2,
                _ => return Err(ChunkError::Bad),
            },
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => at += 1,
            _ => return Err(ChunkError::Bad),
        }
    }
    Err(ChunkError::Bad)
}

/// A trailer field line: `token ":" value` (RFC 9110 §5.1), no bare CR.
fn is_field_line(line: &[u8]) -> bool {
    apiphant_sdk::field_value(line).is_some_and(|value| !value.contains(&b'\r'))
}

fn parse_hex(digits: &[u8]) -> Result<u64, ChunkError> {
    if digits.is_empty() || digits.len() > 15 {
        return Err(ChunkError::Bad);
    }
    digits.iter().try_fold(0u64, |n, &digit| {
        let value = (digit as char).to_digit(16).ok_or(ChunkError::Bad)?;
        Ok(n * 16 + u64::from(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(raw: &[u8], piece: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut decoder = Chunked::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut available = 0;
        while !decoder.is_done() && available < raw.len() {
            available = (available + piece).min(raw.len());
            consumed += decoder.feed(&raw[consumed..available], &mut out, 100)?;
        }
        Ok((out, consumed))
    }

    #[test]
    fn decodes_in_any_pieces_and_stops_at_the_end() {
        let raw = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1";
        for piece in [1, 2, 3, 7, 100] {
            let (out, consumed) = decode_in_pieces(raw, piece).expect("valid");
            assert_eq!(out, b"Wikipedia");
            assert_eq!(&raw[consumed..], b"GET / HTTP/1.1");
        }
    }

    #[test]
    fn the_chunk_line_grammar_is_strict() {
        for good in [
            &b"2\r\n{}\r\n0\r\n\r\n"[..],
            b"2;a\r\n{}\r\n0\r\n\r\n",
            b"2 ; a = b ;c=\"q \\\" x\"\r\n{}\r\n0\r\n\r\n",
        ] {
            assert!(decode_in_pieces(good, 3).is_ok(), "{good:?}");
        }
        for bad in [
            &b" 2\r\n{}\r\n0\r\n\r\n"[..],
            b"2 \r\n{}\r\n0\r\n\r\n",
            b"2;\r\n{}\r\n0\r\n\r\n",
            b"2;a=\r\n{}\r\n0\r\n\r\n",
            b"2;a@b\r\n{}\r\n0\r\n\r\n",
            b"2;a=\"open\r\n{}\r\n0\r\n\r\n",
            b"2;a\x01\r\n{}\r\n0\r\n\r\n",
            b"2\r\r\n{}\r\n0\r\n\r\n",
            b"2\n{}\r\n0\r\n\r\n",
            b"2\r\n{}\r\n0\n\r\n",
            b"2\r\n{}\r\n0\r\n\n",
        ] {
            assert_eq!(decode_in_pieces(bad, 3), Err(ChunkError::Bad), "{bad:?}");
        }
    }

    #[test]
    fn refuses_bad_sizes_and_big_bodies() {
        assert_eq!(decode_in_pieces(b"zz\r\n", 10), Err(ChunkError::Bad));
        assert_eq!(decode_in_pieces(b"4\r\nWikiXX", 10), Err(ChunkError::Bad));
        assert_eq!(
            decode_in_pieces(b"0\r\nbad trailer\r\n\r\n", 10),
            Err(ChunkError::Bad)
        );
        assert_eq!(decode_in_pieces(b"FFFF\r\n", 10), Err(ChunkError::TooLarge));
        assert_eq!(
            decode_in_pieces(b"ffffffffffffffffffff\r\n", 30),
            Err(ChunkError::Bad)
        );
    }
}
