//! Fuzzes the request parsers of the connection loop (`apiphant::http::fuzzing`): the head
//! parser and framing rules on any bytes, and the chunked decoder fed in pieces of every
//! size, which must decode the same bytes as when fed at once.
#![no_main]

use apiphant::http::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, rest)) = data.split_first() else {
        return;
    };
    let _ = fuzzing::parse_head(rest);
    let _ = fuzzing::parse_head_in_pieces(rest, usize::from(piece % 64) + 1);
    let whole = fuzzing::decode_chunked(rest, rest.len().max(1));
    let pieces = fuzzing::decode_chunked(rest, usize::from(piece % 16) + 1);
    if let (Some(whole), Some(pieces)) = (&whole, &pieces) {
        assert_eq!(
            whole, pieces,
            "chunked decoding depends on how bytes arrive"
        );
    }
});
